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

// workspaceAccess is what Landlock grants on the workspace: everything
// landlock.RWDirs grants except LANDLOCK_ACCESS_FS_EXECUTE, so nothing
// written there (a copied binary, a script with a #! line) can be
// execve'd.
const workspaceAccess landlock.AccessFSSet = ll.AccessFSReadFile | ll.AccessFSReadDir | ll.AccessFSWriteFile | ll.AccessFSTruncate |
	ll.AccessFSRemoveDir | ll.AccessFSRemoveFile | ll.AccessFSMakeChar | ll.AccessFSMakeDir | ll.AccessFSMakeReg |
	ll.AccessFSMakeSock | ll.AccessFSMakeFifo | ll.AccessFSMakeBlock | ll.AccessFSMakeSym

// closeRangeCloexec is CLOSE_RANGE_CLOEXEC (linux/close_range.h, Linux
// 5.11): close_range(2) marks the range close-on-exec instead of closing.
const closeRangeCloexec = 4

// cloexecInherited marks every file descriptor from 3 up close-on-exec:
// whatever palyrad holds open without O_CLOEXEC (descriptors its own
// parent passed it) must not reach the program.
func cloexecInherited() syscall.Errno {
	_, _, e := unix.RawSyscall(unix.SYS_CLOSE_RANGE, 3, uintptr(^uint32(0)), closeRangeCloexec)
	return e
}

// sandbox applies Landlock to the launcher (and so to the program it
// execs): the RW directories read-write but not executable; the RO directories readable and
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
		landlock.PathAccess(workspaceAccess, sp.RW...),
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
	desc := fmt.Sprintf("landlock abi=%d fs=workspace:rw-noexec,system:ro net=%s", abi, net)
	if abi >= 6 {
		desc += " scoped=signal,abstract-unix"
	}
	return desc, nil
}

// hardening describes what limitExec applies besides Landlock and the
// rlimits: the seccomp filter and the capabilities dropped.
func hardening() string {
	if os.Geteuid() == 0 {
		return SeccompSummary + " caps=dropped(bounding,ambient,securebits-noroot-locked) uid=0(palyrad runs as root: root-owned files stay readable to the program; run palyrad as an unprivileged user)"
	}
	return SeccompSummary + " caps=none"
}

// securebits are set (and locked) before the capabilities are dropped
// when the launcher runs as root: uid 0 gains no capabilities at execve
// (SECBIT_NOROOT), a setuid transition does not touch them
// (SECBIT_NO_SETUID_FIXUP), none is kept across setuid (KEEP_CAPS locked
// off) and none can be raised as ambient (SECBIT_NO_CAP_AMBIENT_RAISE).
const securebits = 0x01 | 0x02 | 0x04 | 0x08 | 0x20 | 0x40 | 0x80

// limitExec marks every descriptor from 3 up close-on-exec (the program
// gets only 0, 1 and 2), applies the rlimits (soft and hard), drops every capability
// (bounding set, ambient set, securebits and capset to empty, when the
// launcher runs as root; ambient and capset otherwise), sets no_new_privs,
// loads the seccomp filters and execve's the program; status is closed on
// exec. Everything that allocates happens before the first limit; after
// it there are only raw system calls (close_range, prlimit64, prctl, capset, seccomp,
// write, execve, exit_group) on this locked thread, so a low RLIMIT_AS
// cannot make the Go runtime fail between the limits and the exec, and
// the per-thread credentials set are the ones execve keeps. It returns
// only an error from before the limits; a later failure is reported on
// status as a prepared line and the launcher exits with 127.
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
	filters, err := seccompProgram()
	if err != nil {
		return err
	}
	progs := make([]unix.SockFprog, len(filters))
	for i, f := range filters {
		progs[i] = unix.SockFprog{Len: uint16(len(f)), Filter: &f[0]} // #nosec G115 -- a few dozen instructions
	}
	root := os.Geteuid() == 0
	capHdr := unix.CapUserHeader{Version: unix.LINUX_CAPABILITY_VERSION_3}
	var capData [2]unix.CapUserData // all empty
	lims := make([]unix.Rlimit, len(ls))
	fails := make([][]byte, len(ls))
	for i, l := range ls {
		v := uint64(l.Value) // #nosec G115 -- validated positive by the configuration
		lims[i] = unix.Rlimit{Cur: v, Max: v}
		fails[i] = []byte(`{"step":"setrlimit ` + l.Name + `","errno":`)
	}
	step := func(s string) []byte { return []byte(`{"step":"` + s + `","errno":`) }
	failBset, failAmbient, failSecbits, failCapset := step("drop capability bounding set"), step("clear ambient capabilities"), step("set securebits"), step("capset")
	failNNP, failSeccomp, failExec := step("no_new_privs"), step("seccomp"), step("execve")
	failCloexec := step("close_range cloexec")
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
	prctl := func(prefix []byte, opt, arg uintptr, ignore syscall.Errno) {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, opt, arg, 0, 0, 0, 0); e != 0 && e != ignore {
			fail(prefix, e)
		}
	}
	if e := cloexecInherited(); e != 0 {
		fail(failCloexec, e)
	}
	for i := range lims {
		if _, _, e := unix.RawSyscall6(unix.SYS_PRLIMIT64, 0, uintptr(ls[i].Resource), uintptr(unsafe.Pointer(&lims[i])), 0, 0, 0); e != 0 { // #nosec G103 -- raw prlimit64(2): nothing may allocate between the limits and the exec
			fail(fails[i], e)
		}
	}
	if root {
		for c := uintptr(0); c < 64; c++ {
			if _, _, e := unix.RawSyscall6(unix.SYS_PRCTL, unix.PR_CAPBSET_DROP, c, 0, 0, 0, 0); e == unix.EINVAL {
				break // past the kernel's last capability
			} else if e != 0 {
				fail(failBset, e)
			}
		}
	}
	prctl(failAmbient, unix.PR_CAP_AMBIENT, unix.PR_CAP_AMBIENT_CLEAR_ALL, unix.EINVAL) // EINVAL: no ambient capabilities before Linux 4.3
	if root {
		prctl(failSecbits, unix.PR_SET_SECUREBITS, securebits, 0)
	}
	if _, _, e := unix.RawSyscall(unix.SYS_CAPSET, uintptr(unsafe.Pointer(&capHdr)), uintptr(unsafe.Pointer(&capData[0])), 0); e != 0 { // #nosec G103 -- raw capset(2) of prepared structs
		fail(failCapset, e)
	}
	prctl(failNNP, unix.PR_SET_NO_NEW_PRIVS, 1, 0)
	for i := range progs {
		if _, _, e := unix.RawSyscall(unix.SYS_SECCOMP, unix.SECCOMP_SET_MODE_FILTER, 0, uintptr(unsafe.Pointer(&progs[i]))); e != 0 { // #nosec G103 -- raw seccomp(2) of a program assembled before the limits
			fail(failSeccomp, e)
		}
	}
	_, _, e := unix.RawSyscall(unix.SYS_EXECVE, uintptr(unsafe.Pointer(pathp)), uintptr(unsafe.Pointer(&argvp[0])), uintptr(unsafe.Pointer(&envp[0]))) // #nosec G103 -- raw execve(2) of strings prepared before the limits
	fail(failExec, e)
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
