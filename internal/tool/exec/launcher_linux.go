package exec

import (
	"fmt"
	"os"
	"syscall"

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

// limit applies the rlimits (soft and hard) to the launcher.
func limit(ls []rlimit) error {
	for _, l := range ls {
		v := uint64(l.Value) // #nosec G115 -- validated positive by the configuration
		if err := syscall.Setrlimit(l.Resource, &syscall.Rlimit{Cur: v, Max: v}); err != nil {
			return fmt.Errorf("setrlimit %s=%d: %w", l.Name, l.Value, err)
		}
	}
	return nil
}

// execve replaces the launcher with the program; status is closed on exec.
func execve(path string, argv, env []string, status *os.File) error {
	syscall.CloseOnExec(int(status.Fd()))
	return syscall.Exec(path, argv, env)
}
