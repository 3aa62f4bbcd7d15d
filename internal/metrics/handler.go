package metrics

import (
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"
)

// Handler serves the snapshot that snap returns, taken afresh at every
// request, in the text format (ContentType) whatever the Accept header
// asks for: Prometheus reads the format from the Content-Type it gets. The
// response is gzipped when Accept-Encoding allows it, and an error from
// snap is a 500 whose body says what failed; nothing partial is sent.
func Handler(snap func() (Snapshot, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := snap()
		if err != nil {
			http.Error(w, "tcpka metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		fams, err := Gather(s)
		if err != nil {
			http.Error(w, "tcpka metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		body := AppendText(nil, fams)
		h := w.Header()
		h.Set("Content-Type", ContentType)
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Write(body)
			return
		}
		h.Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(body)
		zw.Close()
	})
}

// acceptsGzip reports whether an Accept-Encoding header value lists gzip
// (or *) with a non-zero quality.
func acceptsGzip(header string) bool {
	for _, part := range strings.Split(header, ",") {
		coding, params, _ := strings.Cut(part, ";")
		coding = strings.TrimSpace(coding)
		if !strings.EqualFold(coding, "gzip") && coding != "*" {
			continue
		}
		if v, ok := strings.CutPrefix(strings.ReplaceAll(params, " ", ""), "q="); ok {
			if q, err := strconv.ParseFloat(v, 64); err == nil && q == 0 {
				continue
			}
		}
		return true
	}
	return false
}
