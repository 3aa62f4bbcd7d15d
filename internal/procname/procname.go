package procname

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// KernelThread is the mark after a kernel thread's command.
const KernelThread = " (kernel thread)"

// pfKthread is PF_KTHREAD (include/linux/sched.h).
const pfKthread = 0x00200000

// errMalformed is returned when /proc/PID/stat cannot be parsed.
var errMalformed = errors.New("malformed /proc/PID/stat")

// Read returns the command of pid under procRoot, marked when it is a
// kernel thread. An error means the process is gone or unreadable.
func Read(procRoot string, pid int) (string, error) {
	dir := filepath.Join(procRoot, strconv.Itoa(pid))
	b, err := os.ReadFile(filepath.Join(dir, "comm"))
	if err != nil {
		return "", err
	}
	comm := strings.TrimSuffix(string(b), "\n")
	if k, err := Kernel(procRoot, pid); err == nil && k {
		comm += KernelThread
	}
	return comm, nil
}

// Kernel says whether pid is a kernel thread: PF_KTHREAD in the flags of
// /proc/PID/stat (field 9; the command in field 2 may hold spaces and
// parentheses, so the fields are counted after its last ')').
func Kernel(procRoot string, pid int) (bool, error) {
	b, err := os.ReadFile(filepath.Join(procRoot, strconv.Itoa(pid), "stat"))
	if err != nil {
		return false, err
	}
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return false, errMalformed
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 7 {
		return false, errMalformed
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return false, errMalformed
	}
	return flags&pfKthread != 0, nil
}
