package enforce

import (
	"errors"

	"github.com/cilium/ebpf/asm"
	"github.com/tcpka/tcpka/internal/keepalive"
)

// Constants of the sock_ops ABI and of setsockopt (include/uapi/linux/bpf.h,
// asm-generic/socket.h); the TCP options come from the key table.
const (
	opActiveEstablished  = 4 // BPF_SOCK_OPS_ACTIVE_ESTABLISHED_CB
	opPassiveEstablished = 5 // BPF_SOCK_OPS_PASSIVE_ESTABLISHED_CB

	solSocket   = 1 // SOL_SOCKET
	soKeepalive = 9 // SO_KEEPALIVE
)

// ProgramName is the name the program is loaded under (at most 15 bytes).
const ProgramName = "tcpka_keepalive"

// ErrNoValues is returned for settings that set none of the socket options.
var ErrNoValues = errors.New("the profile sets none of time, interval, probes, user_timeout")

// Instructions assembles the sock_ops program for s: in the two established
// callbacks it sets TCP_KEEPIDLE, TCP_KEEPINTVL, TCP_KEEPCNT and
// TCP_USER_TIMEOUT (those s sets) and then SO_KEEPALIVE, so the timer is
// armed with the new idle time. tcp_retries2 is a namespace's and is not
// set. The values are checked first: bpf_setsockopt refuses out-of-range
// values at run time, and nobody would see that error.
func Instructions(s keepalive.Settings) (asm.Instructions, error) {
	if !s.SetsKeepalive() && s.UserTimeout == 0 {
		return nil, ErrNoValues
	}
	if err := s.Validate(); err != nil {
		return nil, err
	}
	insns := asm.Instructions{
		asm.Mov.Reg(asm.R6, asm.R1),                     // r6 = ctx
		asm.LoadMem(asm.R2, asm.R1, 0, asm.Word),        // r2 = ctx->op
		asm.JEq.Imm(asm.R2, opActiveEstablished, "set"), // outgoing connection established
		asm.JNE.Imm(asm.R2, opPassiveEstablished, "exit"),
	}
	first := true
	setsockopt := func(level, opt, val int32) {
		// The value lives in a stack slot; bpf_setsockopt copies it.
		st := asm.StoreImm(asm.RFP, -4, int64(val), asm.Word)
		if first {
			st = st.WithSymbol("set")
			first = false
		}
		insns = append(insns, st,
			asm.Mov.Reg(asm.R1, asm.R6),
			asm.Mov.Imm(asm.R2, level),
			asm.Mov.Imm(asm.R3, opt),
			asm.Mov.Reg(asm.R4, asm.RFP),
			asm.Add.Imm(asm.R4, -4),
			asm.Mov.Imm(asm.R5, 4),
			asm.FnSetsockopt.Call(),
		)
	}
	for _, k := range keepalive.SocketKeys() {
		if v := k.Get(s); v != 0 {
			setsockopt(int32(k.SockOpt.Level), int32(k.SockOpt.Opt), int32(v))
		}
	}
	setsockopt(solSocket, soKeepalive, 1)
	insns = append(insns,
		asm.Mov.Imm(asm.R0, 1).WithSymbol("exit"), // sock_ops programs return 1
		asm.Return(),
	)
	return insns, nil
}

// ErrNotOurs is returned by Decode for a program tcpka did not assemble.
var ErrNotOurs = errors.New("not a tcpka keepalive program")

// Decode reads the values back from a program's instructions, as
// Instructions wrote them or as the kernel reports them after verification
// (the stack stores and the option registers survive the rewrite).
func Decode(insns asm.Instructions) (keepalive.Settings, error) {
	var s keepalive.Settings
	var val, level int64
	haveVal, keepaliveOn := false, false
	for _, ins := range insns {
		switch {
		case ins.OpCode.Class() == asm.StClass && ins.OpCode.Mode() == asm.MemMode && ins.Dst == asm.RFP && ins.Offset == -4:
			val, haveVal = ins.Constant, true
		case isMovImm(ins, asm.R2):
			level = ins.Constant
		case isMovImm(ins, asm.R3) && haveVal:
			switch {
			case level == solSocket && ins.Constant == soKeepalive:
				keepaliveOn = val == 1
			default:
				for _, k := range keepalive.SocketKeys() {
					if int64(k.SockOpt.Level) == level && int64(k.SockOpt.Opt) == ins.Constant {
						k.Set(&s, int(val))
					}
				}
			}
			haveVal = false
		}
	}
	if !keepaliveOn || s.IsZero() {
		return keepalive.Settings{}, ErrNotOurs
	}
	return s, nil
}

func isMovImm(ins asm.Instruction, dst asm.Register) bool {
	return ins.OpCode.Class().IsALU() && ins.OpCode.ALUOp() == asm.Mov && ins.OpCode.Source() == asm.ImmSource && ins.Dst == dst
}
