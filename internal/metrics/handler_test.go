package metrics

import (
	"bytes"
	"compress/gzip"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/tcpka/tcpka/internal/keepalive"
	"github.com/tcpka/tcpka/internal/sockdiag"
)

// get requests the handler's page with the given headers.
func get(t *testing.T, h http.Handler, headers map[string]string) *http.Response {
	t.Helper()
	req := httptest.NewRequest(http.MethodGet, "/metrics", nil)
	for k, v := range headers {
		req.Header.Set(k, v)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Result()
}

func TestHandler(t *testing.T) {
	snap := Snapshot{
		Samples:   []Sample{{Values: keepalive.Settings{Time: 60, Intvl: 15, Probes: 4}, Sockets: &sockdiag.Counts{Off: 2}}},
		Installed: &Installed{Name: "ssh"},
		Version:   "v1", Revision: "r", GoVersion: "go1",
	}
	calls := 0
	h := Handler(func() (Snapshot, error) { calls++; return snap, nil })
	var text bytes.Buffer
	if err := Write(&text, snap); err != nil {
		t.Fatal(err)
	}

	t.Run("text by default, same as tcpka metrics prints", func(t *testing.T) {
		resp := get(t, h, nil)
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != 200 || !strings.HasPrefix(resp.Header.Get("Content-Type"), "text/plain; version=0.0.4") {
			t.Fatalf("status %d, Content-Type %q", resp.StatusCode, resp.Header.Get("Content-Type"))
		}
		if diff := cmp.Diff(text.String(), string(body)); diff != "" {
			t.Errorf("body (-tcpka metrics +handler):\n%s", diff)
		}
	})
	t.Run("text when Prometheus asks for protobuf first", func(t *testing.T) {
		resp := get(t, h, map[string]string{"Accept": "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3"})
		body, _ := io.ReadAll(resp.Body)
		if ct := resp.Header.Get("Content-Type"); ct != "text/plain; version=0.0.4; charset=utf-8; escaping=underscores" {
			t.Fatalf("Content-Type %q", ct)
		}
		if diff := cmp.Diff(text.String(), string(body)); diff != "" {
			t.Errorf("body (-tcpka metrics +handler):\n%s", diff)
		}
	})
	t.Run("gzip when accepted", func(t *testing.T) {
		resp := get(t, h, map[string]string{"Accept-Encoding": "deflate, gzip;q=0.5"})
		if resp.Header.Get("Content-Encoding") != "gzip" {
			t.Fatalf("Content-Encoding %q, want gzip", resp.Header.Get("Content-Encoding"))
		}
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(zr)
		if string(body) != text.String() {
			t.Errorf("gunzipped body differs:\n%s", body)
		}
	})
	t.Run("no gzip when refused", func(t *testing.T) {
		resp := get(t, h, map[string]string{"Accept-Encoding": "gzip;q=0, identity"})
		body, _ := io.ReadAll(resp.Body)
		if resp.Header.Get("Content-Encoding") != "" || string(body) != text.String() {
			t.Errorf("Content-Encoding %q, body:\n%s", resp.Header.Get("Content-Encoding"), body)
		}
	})
	if calls != 4 {
		t.Errorf("snapshot taken %d times for 4 requests, want a fresh one each time", calls)
	}
}

func TestHandlerSnapshotError(t *testing.T) {
	h := Handler(func() (Snapshot, error) { return Snapshot{}, errors.New("read sysctls: permission denied") })
	resp := get(t, h, nil)
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusInternalServerError {
		t.Errorf("status %d, want 500", resp.StatusCode)
	}
	if got := strings.TrimSpace(string(body)); got != "tcpka metrics: read sysctls: permission denied" {
		t.Errorf("body %q", got)
	}
}

func TestAcceptsGzip(t *testing.T) {
	for h, want := range map[string]bool{
		"":                     false,
		"gzip":                 true,
		"GZIP":                 true,
		"deflate, gzip;q=0.5":  true,
		"gzip;q=0":             false,
		"gzip; q=0.000":        false,
		"*":                    true,
		"identity":             false,
		"br, gzip ;q=1.0, zst": true,
	} {
		if got := acceptsGzip(h); got != want {
			t.Errorf("acceptsGzip(%q) = %v, want %v", h, got, want)
		}
	}
}
