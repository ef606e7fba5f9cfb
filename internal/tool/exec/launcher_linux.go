package exec

import (
	"fmt"
	"os"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/landlock-lsm/go-landlock/landlock"
	ll "github.com/landlock-lsm/go-landlock/landlock/syscall"
)

const rlimitNPROC = 6 // RLIMIT_NPROC on Linux

// sandbox applies Landlock to the launcher (and so to the program it
// execs): the RW directories read-write; the RO directories readable and
// executable; /dev/null read-write; /dev/zero, /dev/random and
// /dev/urandom readable; nothing else. TCP bind and connect are denied
// (ABI 4+) except connect to the spec's ports, UDP too (ABI 10+); signals
// and abstract unix sockets are scoped to the domain (ABI 6+). It returns
// what was applied, from the kernel's ABI version, or "none: ..." when
// Landlock is unavailable and not required.
func sandbox(sp launchSpec) (string, error) {
	abi, err := ll.LandlockGetABIVersion()
	if err != nil || abi < 1 {
		if sp.Require {
			return "", fmt.Errorf("sandbox: landlock unavailable in this kernel (%v)", err)
		}
		return fmt.Sprintf("none: landlock unavailable in this kernel (%v)", err), nil
	}
	rules := []landlock.Rule{
		landlock.RWDirs(sp.RW...),
		landlock.RODirs(sp.RO...).IgnoreIfMissing(),
		landlock.RWFiles("/dev/null").IgnoreIfMissing(),
		landlock.ROFiles("/dev/zero", "/dev/urandom", "/dev/random").IgnoreIfMissing(),
	}
	for _, p := range sp.Connect {
		rules = append(rules, landlock.ConnectTCP(p))
	}
	err = landlock.V11.BestEffort().Restrict(rules...)
	if err != nil {
		if sp.Require {
			return "", fmt.Errorf("sandbox: landlock: %v", err)
		}
		return fmt.Sprintf("none: landlock failed (%v)", err), nil
	}
	net := "open (landlock abi<4 cannot restrict it)"
	allowed := ""
	if len(sp.Connect) > 0 {
		allowed = fmt.Sprintf(" except tcp connect to ports %v", sp.Connect)
	}
	switch {
	case abi >= 10:
		net = "tcp+udp denied" + allowed
	case abi >= 4:
		net = "tcp bind/connect denied" + allowed + " (udp not restricted below abi 10)"
	}
	desc := fmt.Sprintf("landlock abi=%d fs=workspace:rw,system:ro net=%s", abi, net)
	if abi >= 6 {
		desc += " scoped=signal,abstract-unix"
	}
	return desc, nil
}

// limitExec applies the rlimits (soft and hard) and execve's the program;
// status is closed on exec. Everything that allocates happens before the
// first limit; after it there are only raw system calls (prlimit64,
// write, execve, exit_group), so a low RLIMIT_AS cannot make the Go
// runtime fail between the limits and the exec. It returns only an error
// from before the limits; a later failure is reported on status as a
// prepared line and the launcher exits with 127.
func limitExec(ls []rlimit, path string, argv, env []string, status *os.File) error {
	pathp, err := syscall.BytePtrFromString(path)
	if err != nil {
		return err
	}
	argvp, err := syscall.SlicePtrFromStrings(argv)
	if err != nil {
		return err
	}
	envp, err := syscall.SlicePtrFromStrings(env)
	if err != nil {
		return err
	}
	lims := make([]unix.Rlimit, len(ls))
	fails := make([][]byte, len(ls)+1)
	for i, l := range ls {
		v := uint64(l.Value) // #nosec G115 -- validated positive by the configuration
		lims[i] = unix.Rlimit{Cur: v, Max: v}
		fails[i] = []byte(`{"step":"setrlimit ` + l.Name + `","errno":`)
	}
	fails[len(ls)] = []byte(`{"step":"execve","errno":`)
	var line [96]byte
	fd := status.Fd()
	syscall.CloseOnExec(int(fd))
	fail := func(prefix []byte, errno syscall.Errno) {
		n := copy(line[:], prefix)
		n += writeUint(line[n:], uint64(errno))
		n += copy(line[n:], "}\n")
		unix.RawSyscall(unix.SYS_WRITE, fd, uintptr(unsafe.Pointer(&line[0])), uintptr(n)) // #nosec G103 -- raw write(2) of a stack buffer: nothing may allocate under RLIMIT_AS
		unix.RawSyscall(unix.SYS_EXIT_GROUP, 127, 0, 0)
	}
	for i := range lims {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(ls[i].Resource), uintptr(unsafe.Pointer(&lims[i])), 0, 0, 0); e != 0 { // #nosec G103 -- raw prlimit64(2): nothing may allocate between the limits and the exec
			fail(fails[i], e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)), uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0]))) // #nosec G103 -- raw execve(2) of strings prepared before the limits
	fail(fails[len(ls)], e)
	return nil // not reached
}

// writeUint writes n in decimal into b and returns the length, without
// allocating.
func writeUint(b []byte, n uint64) int {
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return copy(b, tmp[i:])
}

// LandlockABI is the kernel's Landlock ABI version, or an error when the
// kernel has no Landlock (not built in, or not enabled in the lsm= list).
func LandlockABI() (int, error) { return ll.LandlockGetABIVersion() }
