package client_test

import (
	"io"
	"os"
	"strings"
	"testing"

	"github.com/walcast/walcast/client"
)

// TestExampleIntegration runs Example_integrationTest against a server in
// process, so that the example is known to work.
func TestExampleIntegration(t *testing.T) {
	dbURL, url, secret := client.StartTestServer(t)
	t.Setenv("DATABASE_URL", dbURL)
	t.Setenv("WALCAST_URL", url)
	t.Setenv("JWT_SECRET", secret)
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout := os.Stdout
	os.Stdout = w
	Example_integrationTest()
	os.Stdout = stdout
	w.Close()
	out, _ := io.ReadAll(r)
	if got := strings.TrimSpace(string(out)); got != "INSERT buy milk alice" {
		t.Errorf("example printed %q, want %q", got, "INSERT buy milk alice")
	}
}
