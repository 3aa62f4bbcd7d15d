package metrics

import (
	"bytes"
	"compress/gzip"
	"net/http"
	"strconv"
	"strings"

	"github.com/prometheus/common/expfmt"
)

// Handler serves the snapshot that snap returns, taken afresh at every
// request, as promhttp serves a registry: the exposition format is
// negotiated from the Accept header (delimited protobuf, protobuf text or
// the text format, which is also the fallback), the response is gzipped
// when Accept-Encoding allows it, and an error from snap (or from
// encoding) is a 500 whose body says what failed; nothing partial is sent.
func Handler(snap func() (Snapshot, error)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s, err := snap()
		if err != nil {
			http.Error(w, "tcpka metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		format := expfmt.NegotiateAccept(r.Header, expfmt.DefaultAcceptedFormats()...)
		var body bytes.Buffer
		if err := encode(&body, format, s); err != nil {
			http.Error(w, "tcpka metrics: "+err.Error(), http.StatusInternalServerError)
			return
		}
		h := w.Header()
		h.Set("Content-Type", string(format))
		h.Add("Vary", "Accept-Encoding")
		if !acceptsGzip(r.Header.Get("Accept-Encoding")) {
			w.Write(body.Bytes())
			return
		}
		h.Set("Content-Encoding", "gzip")
		zw := gzip.NewWriter(w)
		zw.Write(body.Bytes())
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
