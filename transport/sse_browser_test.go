package transport

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/walcast/walcast/internal/chromium"
)

// ssePage follows a feed with the browser's own EventSource and keeps
// what it received in window.rows; window.opens counts (re)connections.
const ssePage = `<!doctype html><meta charset="utf-8"><title>sse</title><script>
window.rows = []; window.opens = 0; window.subscribed = false;
const es = new EventSource(new URLSearchParams(location.search).get('feed'));
es.onopen = () => { window.opens++; };
es.addEventListener('system', (e) => { if (e.data.includes('Subscribed to PostgreSQL')) window.subscribed = true; });
es.addEventListener('postgres_changes', (e) => { window.rows.push(JSON.parse(e.data).new.id); });
</script>`

// In headless Chromium, an EventSource that loses its connection
// reconnects by itself with Last-Event-ID and receives every row committed
// meanwhile exactly once.
func TestSSEInBrowser(t *testing.T) {
	e := newFeedEnv(t)
	page := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html")
		fmt.Fprint(w, ssePage)
	}))
	defer page.Close()

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	alloc, cancelAlloc := chromium.Allocator(ctx, t)
	defer cancelAlloc()
	tab, closeTab := chromedp.NewContext(alloc)
	defer closeTab()
	feed := e.url + "/realtime/v1/sse?apikey=" + e.key + "&schema=public&table=items"
	if err := chromedp.Do(tab, chromedp.Navigate(page.URL+"/?feed="+url.QueryEscape(feed))); err != nil {
		t.Fatalf("open the page: %v", err)
	}
	waitJS := func(what, js string) {
		t.Helper()
		deadline := time.Now().Add(30 * time.Second)
		for {
			ok, err := chromedp.Run(tab, chromedp.Evaluate[bool](js))
			if err != nil {
				t.Fatalf("%s: %v", what, err)
			}
			if ok {
				return
			}
			if time.Now().After(deadline) {
				rows, _ := chromedp.Run(tab, chromedp.Evaluate[string](`JSON.stringify(window.rows)`))
				t.Fatalf("timed out waiting for %s; rows %s", what, rows)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	waitJS("the subscription", `window.subscribed`)
	e.insert(t, 1, 10)
	waitJS("rows 1..10", `window.rows.length >= 10`)
	e.cutConnections()  // cut the stream under the browser
	e.insert(t, 11, 20) // committed while it reconnects
	waitJS("the reconnection", `window.opens >= 2`)
	e.insert(t, 21, 25)
	waitJS("rows 1..25", `window.rows.length >= 25`)
	time.Sleep(200 * time.Millisecond) // a duplicate would arrive now
	rows, err := chromedp.Run(tab, chromedp.Evaluate[[]int](`window.rows`))
	if err != nil {
		t.Fatal(err)
	}
	var want []int
	for i := 1; i <= 25; i++ {
		want = append(want, i)
	}
	if fmt.Sprint(rows) != fmt.Sprint(want) {
		t.Errorf("the page received rows %v, want 1..25 once each", rows)
	}
}
