package main

import (
	"fmt"
	"math"

	"github.com/tcpka/tcpka/internal/detect"
)

// detectionCases is show's one line on the cases the model covers: the
// idle peer, the peer gone while data is in flight (retransmission,
// tcp_retries2 read from the proc tree), and sockets with their own
// settings. dataS is the in-flight time in whole seconds, -1 if unknown.
func (e *Env) detectionCases(k detect.Keepalive) (line string, dataS, retries2 int) {
	data := "unknown (tcp_retries2 not readable)"
	dataS, retries2 = -1, -1
	// tcp_retries2 and the RTO bounds are per netns too: read the target's.
	var r detect.Retrans
	var err error
	if nerr := e.inNetns(func() error { r, err = detect.ReadRetrans(e.ProcRoot); return nil }); nerr != nil {
		err = nerr
	}
	if err == nil {
		hz, _ := detect.ReadHZ(e.ProcRoot)
		b := detect.Predict(detect.Case{Data: true, Retrans: r, HZ: hz})
		dataS, retries2 = int(math.Round(b.Nominal.Seconds())), r.Retries2
		data = fmt.Sprintf("%s (retransmission, tcp_retries2 %d)", detect.Seconds(dataS), r.Retries2)
	}
	line = fmt.Sprintf("idle peer: %s; peer gone while data is in flight: %s; sockets with their own settings: see tcpka sockets",
		detect.Seconds(k.IdleSeconds()), data)
	return line, dataS, retries2
}
