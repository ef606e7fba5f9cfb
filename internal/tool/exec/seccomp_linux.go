package exec

import (
	"fmt"

	seccomp "github.com/elastic/go-seccomp-bpf"
	"github.com/elastic/go-seccomp-bpf/arch"
	"golang.org/x/net/bpf"
	"golang.org/x/sys/unix"
)

// deniedSyscalls are the system calls the seccomp filter answers with
// EPERM: a conservative denylist of calls a governed program has no use
// for and that reach the kernel, other processes or the host beyond what
// Landlock and the rlimits govern. docs/tools.md lists them with reasons.
var deniedSyscalls = []string{
	// io_uring performs socket, open and connect operations that seccomp
	// never sees.
	"io_uring_setup", "io_uring_enter", "io_uring_register",
	// Reading or writing another process's memory or file descriptors.
	"ptrace", "process_vm_readv", "process_vm_writev", "pidfd_getfd", "kcmp", "process_madvise",
	// Kernel attack surface.
	"bpf", "userfaultfd", "perf_event_open", "keyctl", "add_key", "request_key",
	// Mounts, namespaces and roots.
	"mount", "umount", "umount2", "pivot_root", "chroot", "unshare", "setns",
	"fsopen", "fsmount", "fsconfig", "fspick", "move_mount", "open_tree", "mount_setattr",
	"open_by_handle_at", "name_to_handle_at",
	// Kernel code, the machine's state and clock.
	"kexec_load", "kexec_file_load", "init_module", "finit_module", "delete_module",
	"reboot", "swapon", "swapoff", "acct", "settimeofday", "clock_settime", "clock_adjtime",
	"adjtimex", "syslog", "sethostname", "setdomainname", "iopl", "ioperm", "vhangup",
	"quotactl", "lookup_dcookie", "fanotify_init", "uselib", "nfsservctl", "_sysctl",
	// Serving: listen(2) on an unbound TCP socket binds it to 0.0.0.0 and a
	// random port without bind(2), which Landlock governs.
	"listen", "accept", "accept4",
}

// msgFastOpen is MSG_FASTOPEN: sendto(2) or sendmsg(2) with it on an
// unconnected TCP socket connects (Fast Open) without connect(2), which
// Landlock governs.
const msgFastOpen = 0x20000000

// tcpFastOpenConnect is the TCP_FASTOPEN_CONNECT socket option (level
// IPPROTO_TCP), which defers a connection to the first write.
const tcpFastOpenConnect = 30

// cloneNamespaces are the clone(2) flags that create namespaces (the same
// as unshare(2), which is denied).
const cloneNamespaces = unix.CLONE_NEWNS | unix.CLONE_NEWCGROUP | unix.CLONE_NEWUTS | unix.CLONE_NEWIPC |
	unix.CLONE_NEWUSER | unix.CLONE_NEWPID | unix.CLONE_NEWNET | unix.CLONE_NEWTIME

// socketTypeAllowed are the socket(2) type bits that may be set: SOCK_STREAM
// (1) or SOCK_DGRAM (2), with SOCK_NONBLOCK and SOCK_CLOEXEC. SOCK_RAW (3)
// is refused by its own rule; SOCK_SEQPACKET, SOCK_RDM and SOCK_PACKET set
// other bits.
const socketTypeAllowed = unix.SOCK_STREAM | unix.SOCK_DGRAM | unix.SOCK_NONBLOCK | unix.SOCK_CLOEXEC

// SeccompSummary is how the result's sandbox string states the seccomp
// filter.
const SeccompSummary = "seccomp=socket:inet/inet6+tcp/udp-only,socketpair:stream/seqpacket-only,denied:listen,accept,tcp-fastopen,io_uring,ptrace,bpf,mount,namespaces,keyctl,modules,kexec(docs/tools.md)"

// seccompProgram assembles the launcher's seccomp filters, applied right
// before execve (after no_new_privs) so the program and everything it
// starts inherit them:
//
//   - socket(2) only for AF_INET and AF_INET6, type SOCK_STREAM or
//     SOCK_DGRAM (SOCK_NONBLOCK and SOCK_CLOEXEC allowed), protocol 0,
//     IPPROTO_TCP or IPPROTO_UDP; anything else (AF_UNIX, AF_NETLINK,
//     AF_PACKET, SOCK_RAW, IPPROTO_MPTCP...) fails with EPERM, so a
//     program cannot reach the daemon's admin socket or other local
//     services over pathname or abstract unix sockets (Landlock before ABI
//     9 does not govern connect(2) to them). socketpair(2) stays allowed
//     for SOCK_STREAM and SOCK_SEQPACKET only (a datagram pair could
//     sendto(2) a pathname datagram socket outside).
//   - sendto(2), sendmsg(2) and sendmmsg(2) with MSG_FASTOPEN, and
//     setsockopt TCP_FASTOPEN_CONNECT, fail with EPERM: TCP Fast Open
//     connects without connect(2), out of Landlock's sight.
//   - listen(2), accept(2) and accept4(2) fail with EPERM (listen(2)
//     binds an unbound socket without bind(2)).
//   - clone(2) with namespace flags, and the deniedSyscalls, fail with
//     EPERM; clone3(2) fails with ENOSYS (its flags are in memory, out of
//     seccomp's sight), so the C library falls back to clone(2).
//
// The second filter refuses (ENOSYS) system calls made in another
// architecture's calling convention (int 0x80 on x86_64), which the
// first one would let through.
func seccompProgram() ([][]unix.SockFilter, error) {
	info, err := arch.GetInfo("")
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	var names []string
	for _, n := range deniedSyscalls {
		if _, ok := info.SyscallNames[n]; ok {
			names = append(names, n)
		}
	}
	eperm := seccomp.ActionErrno | seccomp.Action(unix.EPERM)
	deny := func(arg uint32, op seccomp.Operation, v uint64) seccomp.Condition {
		return seccomp.Condition{Argument: arg, Operation: op, Value: v}
	}
	sock := []seccomp.NameWithConditions{
		// a domain other than AF_INET and AF_INET6
		{Name: "socket", Conditions: seccomp.ArgumentConditions{deny(0, seccomp.NotEqual, unix.AF_INET), deny(0, seccomp.NotEqual, unix.AF_INET6)}},
		// a type bit outside SOCK_STREAM|SOCK_DGRAM|SOCK_NONBLOCK|SOCK_CLOEXEC
		{Name: "socket", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.BitsSet, ^uint64(socketTypeAllowed))}},
		// SOCK_RAW (both low bits)
		{Name: "socket", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.BitsSet, 1), deny(1, seccomp.BitsSet, 2)}},
		// a protocol other than 0, IPPROTO_TCP and IPPROTO_UDP
		{Name: "socket", Conditions: seccomp.ArgumentConditions{deny(2, seccomp.NotEqual, 0), deny(2, seccomp.NotEqual, unix.IPPROTO_TCP), deny(2, seccomp.NotEqual, unix.IPPROTO_UDP)}},
		// TCP Fast Open: MSG_FASTOPEN in sendto's (arg 3), sendmsg's (arg 2)
		// and sendmmsg's (arg 3) flags, and setsockopt TCP_FASTOPEN_CONNECT
		{Name: "sendto", Conditions: seccomp.ArgumentConditions{deny(3, seccomp.BitsSet, msgFastOpen)}},
		{Name: "sendmsg", Conditions: seccomp.ArgumentConditions{deny(2, seccomp.BitsSet, msgFastOpen)}},
		{Name: "sendmmsg", Conditions: seccomp.ArgumentConditions{deny(3, seccomp.BitsSet, msgFastOpen)}},
		{Name: "setsockopt", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.Equal, unix.IPPROTO_TCP), deny(2, seccomp.Equal, tcpFastOpenConnect)}},
		// socketpair(2) other than SOCK_STREAM (1) or SOCK_SEQPACKET (5):
		// an unconnected datagram socket can sendto(2) any pathname
		// datagram socket (/dev/log). Bit 1 set (2, 3, 6, 10), bit 0 clear
		// (2, 4, 6, 10) or bit 3 set (10) is refused.
		{Name: "socketpair", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.BitsSet, 2)}},
		{Name: "socketpair", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.BitsNotSet, 1)}},
		{Name: "socketpair", Conditions: seccomp.ArgumentConditions{deny(1, seccomp.BitsSet, 8)}},
		{Name: "clone", Conditions: seccomp.ArgumentConditions{deny(0, seccomp.BitsSet, cloneNamespaces)}},
	}
	groups := []seccomp.SyscallGroup{
		{Names: names, NamesWithCondtions: sock, Action: eperm},
	}
	if _, ok := info.SyscallNames["clone3"]; ok {
		groups = append(groups, seccomp.SyscallGroup{Names: []string{"clone3"}, Action: seccomp.ActionErrno | seccomp.Action(unix.ENOSYS)})
	}
	pol := seccomp.Policy{DefaultAction: seccomp.ActionAllow, Syscalls: groups}
	main, err := assemble(pol.Assemble())
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	guard, err := assemble([]bpf.Instruction{
		bpf.LoadAbsolute{Off: 4, Size: 4}, // seccomp_data.arch
		bpf.JumpIf{Cond: bpf.JumpEqual, Val: uint32(info.ID), SkipTrue: 1},
		bpf.RetConstant{Val: uint32(seccomp.ActionErrno) | uint32(unix.ENOSYS)},
		bpf.RetConstant{Val: uint32(seccomp.ActionAllow)},
	}, nil)
	if err != nil {
		return nil, fmt.Errorf("seccomp: %w", err)
	}
	return [][]unix.SockFilter{guard, main}, nil
}

func assemble(insts []bpf.Instruction, err error) ([]unix.SockFilter, error) {
	if err != nil {
		return nil, err
	}
	raw, err := bpf.Assemble(insts)
	if err != nil {
		return nil, err
	}
	out := make([]unix.SockFilter, len(raw))
	for i, r := range raw {
		out[i] = unix.SockFilter{Code: r.Op, Jt: r.Jt, Jf: r.Jf, K: r.K}
	}
	return out, nil
}
