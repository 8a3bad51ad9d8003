package transport

import (
	"net/url"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzParseFeedTopics feeds arbitrary query strings to the parser of a
// feed's rooms: it never panics, and what it accepts is within the limits
// a join has (a topic that is not empty, UTF-8 and short enough, no more
// rooms than MaxChannels, no room twice).
func FuzzParseFeedTopics(f *testing.F) {
	for _, seed := range []string{
		"broadcast=a&presence=b", "broadcast=realtime:a&broadcast=a&private=true", "presence=&private=1",
		"broadcast=%FF", "private=maybe", "broadcast=" + strings.Repeat("x", 40), "",
	} {
		f.Add(seed)
	}
	s := &Server{cfg: Config{MaxChannels: 4, MaxTopicBytes: 32}}
	f.Fuzz(func(t *testing.T, query string) {
		q, err := url.ParseQuery(query)
		if err != nil {
			return
		}
		ts, err := s.parseFeedTopics(q)
		if err != nil {
			if ts != nil || err.Error() == "" {
				t.Fatalf("refusal %v with topics %v", err, ts)
			}
			return
		}
		if len(ts) > 4 {
			t.Fatalf("%d rooms accepted, over the limit", len(ts))
		}
		seen := map[feedTopic]bool{}
		for _, tt := range ts {
			if tt.sub == "" || !utf8.ValidString(tt.sub) || len(topicPrefix)+len(tt.sub) > 32 || seen[tt] {
				t.Fatalf("accepted room %+v of %q", tt, query)
			}
			seen[tt] = true
		}
	})
}
