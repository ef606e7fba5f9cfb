package exec

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"
)

// refused are programs (by the base name of their resolved path) that run
// other programs in ways argv cannot show, or change privileges; a call
// naming one, at the top or inside a wrapper, is refused before
// authorization. A shell reached through a symlink (sh -> dash) is caught
// by its resolved name.
var refused = map[string]string{}

func init() {
	for reason, names := range map[string][]string{
		"runs shell code or applets given as text":                    {"sh", "bash", "dash", "zsh", "ksh", "mksh", "ash", "fish", "csh", "tcsh", "rbash", "busybox", "toybox", "expect"},
		"builds commands from its input":                              {"xargs", "parallel", "watch", "run-parts"},
		"changes privileges or identity":                              {"sudo", "doas", "su", "pkexec", "runuser", "setpriv", "sg", "newgrp", "capsh", "fakeroot", "runcon"},
		"runs a program in another namespace, root or under a tracer": {"chroot", "unshare", "nsenter", "strace", "ltrace", "gdb", "valgrind", "script", "systemd-run", "firejail", "bwrap", "proot", "setarch", "linux32", "linux64"},
		"wraps a program in ways not seen through":                    {"time", "flock", "nocache", "unbuffer", "prlimit", "eatmydata", "torsocks", "start-stop-daemon", "dbus-run-session", "catchsegv", "ssh-agent"},
	} {
		for _, n := range names {
			refused[n] = reason
		}
	}
}

// wrapper describes the options of a program that runs another one given
// as its remaining argv, so that the inner program can be found and
// governed in its place.
type wrapper struct {
	short0, short1 string   // short options without / with a value
	long0, long1   []string // long options without / with a value
	// refuse are options that make the wrapper act on something other than
	// the program it runs (another process, another directory, a string
	// split like a shell would).
	refuse []string
	// positional is the number of operands before the program (timeout's
	// duration, chrt's priority, taskset's mask).
	positional int
	// numeric: "-N" (a number) is an option (nice -10).
	numeric bool
	// noAssign: NAME=VALUE operands before the program are refused (env:
	// LD_PRELOAD=... or PATH=... would change what runs).
	noAssign bool
}

// seeThrough are the wrappers governed as the program they run. The
// executed argv keeps the wrapper, with the inner program's name replaced
// by its resolved absolute path, so the wrapper cannot look it up
// elsewhere.
var seeThrough = map[string]wrapper{
	"env":     {short0: "i0v", short1: "u", long0: []string{"--ignore-environment", "--null", "--debug"}, long1: []string{"--unset"}, refuse: []string{"-C", "--chdir", "-S", "--split-string", "--default-signal", "--ignore-signal", "--block-signal", "-P"}, noAssign: true},
	"timeout": {short0: "v", short1: "sk", long0: []string{"--preserve-status", "--foreground", "--verbose"}, long1: []string{"--signal", "--kill-after"}, positional: 1},
	"nice":    {short1: "n", long1: []string{"--adjustment"}, numeric: true},
	"nohup":   {},
	"stdbuf":  {short1: "ioe", long1: []string{"--input", "--output", "--error"}},
	"setsid":  {short0: "cfw", long0: []string{"--ctty", "--fork", "--wait"}},
	"ionice":  {short0: "t", short1: "cn", long0: []string{"--ignore"}, long1: []string{"--class", "--classdata"}, refuse: []string{"-p", "-P", "-u", "--pid", "--pgid", "--uid"}},
	"chrt":    {short0: "bdfiorR", short1: "TPD", long0: []string{"--batch", "--deadline", "--fifo", "--idle", "--other", "--rr", "--reset-on-fork"}, long1: []string{"--sched-runtime", "--sched-period", "--sched-deadline"}, refuse: []string{"-p", "--pid", "-a", "--all-tasks", "-m", "--max"}, positional: 1},
	"taskset": {short0: "c", long0: []string{"--cpu-list"}, refuse: []string{"-p", "--pid", "-a", "--all-tasks"}, positional: 1},
}

// maxWrappers bounds wrapper nesting (nice timeout env nice ...).
const maxWrappers = 8

// unwrapped is argv with its wrappers seen through.
type unwrapped struct {
	// exe is the argv to execute: argv with every program name (the
	// wrappers' and the governed program's) replaced by its resolved
	// absolute path.
	exe []string
	// program is the governed program's resolved path, at exe[index].
	program string
	index   int
}

// unwrap resolves argv[0] and sees through known wrappers to the program
// they run; refused programs and wrapper options that hide what runs are
// errors wrapping errInvalid.
func unwrap(r *resolver, argv []string) (unwrapped, error) {
	u := unwrapped{exe: slices.Clone(argv)}
	idx := 0
	for depth := 0; ; depth++ {
		if depth > maxWrappers {
			return u, fmt.Errorf("%w: more than %d nested wrappers", errInvalid, maxWrappers)
		}
		path, err := r.resolve(u.exe[idx])
		if err != nil {
			return u, err
		}
		u.exe[idx] = path
		base := filepath.Base(path)
		if why, bad := refused[base]; bad {
			return u, fmt.Errorf("%w: %s is refused: it %s", errInvalid, base, why)
		}
		if base == "find" {
			for _, a := range u.exe[idx+1:] {
				if a == "-exec" || a == "-execdir" || a == "-ok" || a == "-okdir" {
					return u, fmt.Errorf("%w: find %s is refused: it runs other programs", errInvalid, a)
				}
			}
		}
		w, ok := seeThrough[base]
		if !ok {
			u.program, u.index = path, idx
			return u, nil
		}
		next, err := w.inner(base, u.exe[idx+1:])
		if err != nil {
			return u, err
		}
		if next < 0 { // the wrapper alone (env, nice): it is the program
			u.program, u.index = path, idx
			return u, nil
		}
		idx += 1 + next
	}
}

// inner returns the index in args of the program the wrapper runs, or -1
// when there is none.
func (w wrapper) inner(name string, args []string) (int, error) {
	bad := func(a string) error {
		return fmt.Errorf("%w: %s option %q is refused: only the options that leave the program it runs visible are seen through", errInvalid, name, a)
	}
	i := 0
options:
	for i < len(args) {
		a := args[i]
		switch {
		case a == "--":
			i++
			break options
		case strings.HasPrefix(a, "--"):
			n, _, eq := strings.Cut(a, "=")
			switch {
			case slices.Contains(w.refuse, n):
				return 0, bad(n)
			case slices.Contains(w.long0, n) && !eq:
			case slices.Contains(w.long1, n):
				if !eq {
					i++
				}
			default:
				return 0, bad(n)
			}
		case len(a) > 1 && a[0] == '-':
			if w.numeric && strings.Trim(a[1:], "0123456789") == "" {
				break
			}
			for j := 1; j < len(a); j++ {
				c := a[j : j+1]
				switch {
				case slices.Contains(w.refuse, "-"+c):
					return 0, bad("-" + c)
				case strings.Contains(w.short0, c):
					continue
				case strings.Contains(w.short1, c):
					if j == len(a)-1 {
						i++ // the value is the next argument
					}
					j = len(a)
				default:
					return 0, bad("-" + c)
				}
			}
		default:
			break options
		}
		i++
	}
	if w.noAssign && i < len(args) && strings.Contains(args[i], "=") {
		return 0, fmt.Errorf("%w: %s NAME=VALUE is refused (a variable such as LD_PRELOAD or PATH changes what runs); secrets go in the env argument", errInvalid, name)
	}
	i += w.positional
	if i >= len(args) {
		if w.positional > 0 && i > len(args) {
			return 0, fmt.Errorf("%w: %s needs %d operand(s) before the program", errInvalid, name, w.positional)
		}
		return -1, nil
	}
	return i, nil
}
