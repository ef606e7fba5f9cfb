package config

import (
	"fmt"
	"net/netip"
	"path/filepath"
	"time"
)

// Defaults and bounds of the [tools] table. Bounds are inclusive.
const (
	DefaultToolWallTime = 20 * time.Second
	MinToolWallTime     = 10 * time.Millisecond
	MaxToolWallTime     = time.Hour

	DefaultToolCPUTime = 30 * time.Second
	MinToolCPUTime     = time.Second
	MaxToolCPUTime     = time.Hour

	DefaultToolMemoryBytes = 1 << 30
	MinToolMemoryBytes     = 16 << 20
	MaxToolMemoryBytes     = 64 << 30

	DefaultToolOpenFiles = 256
	MinToolOpenFiles     = 16
	MaxToolOpenFiles     = 65536

	DefaultToolProcesses = 64
	MinToolProcesses     = 1
	MaxToolProcesses     = 65536

	DefaultToolFileBytes = 256 << 20
	MinToolFileBytes     = 1 << 20
	MaxToolFileBytes     = 1 << 40

	DefaultToolOutputBytes = 1 << 20
	MinToolOutputBytes     = 1 << 10
	MaxToolOutputBytes     = 2 << 20
)

// Tools is the [tools] table: the exec tool's workspace, trusted
// directories, sandbox and limits (docs/tools.md).
//
//	[tools]
//	workspace       = ""                     # default: STATE_DIR/workspace
//	trusted_dirs    = ["/usr/bin", "/bin"]   # where program names are resolved
//	system_dirs     = ["/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"]  # read-only in the sandbox
//	require_sandbox = true                   # refuse to run without Landlock
//	wall_time       = "20s"                  # 10ms..1h
//	cpu_time        = "30s"                  # 1s..1h (RLIMIT_CPU)
//	memory_bytes    = 1073741824             # 16 MiB..64 GiB (RLIMIT_AS)
//	open_files      = 256                    # 16..65536 (RLIMIT_NOFILE)
//	processes       = 64                     # 1..65536 (RLIMIT_NPROC)
//	max_file_bytes  = 268435456              # 1 MiB..1 TiB (RLIMIT_FSIZE)
//	output_bytes    = 1048576                # 1 KiB..2 MiB, stdout+stderr
//	fetch_allow_prefixes = []                # http.fetch: non-public prefixes allowed
type Tools struct {
	// Workspace (workspace) is the directory programs run in, absolute;
	// "" means the "workspace" directory inside the state directory.
	Workspace string `toml:"workspace"`
	// TrustedDirs (trusted_dirs) are the absolute directories a program
	// name is resolved in, in order; the caller's PATH is never used.
	TrustedDirs []string `toml:"trusted_dirs"`
	// SystemDirs (system_dirs) are readable and executable in the sandbox.
	SystemDirs []string `toml:"system_dirs"`
	// RequireSandbox (require_sandbox) refuses to run a program when the
	// Landlock sandbox cannot be applied.
	RequireSandbox bool `toml:"require_sandbox"`
	// WallTime (wall_time) ends a run, killing its process group.
	WallTime Duration `toml:"wall_time"`
	// CPUTime (cpu_time) is RLIMIT_CPU, in whole seconds.
	CPUTime Duration `toml:"cpu_time"`
	// MemoryBytes (memory_bytes) is RLIMIT_AS.
	MemoryBytes int64 `toml:"memory_bytes"`
	// OpenFiles (open_files) is RLIMIT_NOFILE.
	OpenFiles int64 `toml:"open_files"`
	// Processes (processes) is RLIMIT_NPROC (per user; not enforced for
	// root).
	Processes int64 `toml:"processes"`
	// MaxFileBytes (max_file_bytes) is RLIMIT_FSIZE: no file the program
	// writes grows past it (SIGXFSZ), so one call cannot fill the disk
	// that holds the daemon's databases.
	MaxFileBytes int64 `toml:"max_file_bytes"`
	// OutputBytes (output_bytes) bounds stdout and stderr together.
	OutputBytes int64 `toml:"output_bytes"`
	// FetchAllowPrefixes (fetch_allow_prefixes) are address prefixes
	// http.fetch may reach although they are not public unicast (e.g.
	// "10.1.2.0/24" for one internal service); empty by default.
	FetchAllowPrefixes []string `toml:"fetch_allow_prefixes"`
}

func defaultTools() Tools {
	return Tools{
		TrustedDirs:    []string{"/usr/bin", "/bin"},
		SystemDirs:     []string{"/usr", "/bin", "/sbin", "/lib", "/lib64", "/etc"},
		RequireSandbox: true,
		WallTime:       Duration(DefaultToolWallTime),
		CPUTime:        Duration(DefaultToolCPUTime),
		MemoryBytes:    DefaultToolMemoryBytes,
		OpenFiles:      DefaultToolOpenFiles,
		Processes:      DefaultToolProcesses,
		MaxFileBytes:   DefaultToolFileBytes,
		OutputBytes:    DefaultToolOutputBytes,
	}
}

// WorkspaceDir is the workspace: Workspace, or stateDir/workspace.
func (t Tools) WorkspaceDir(stateDir string) string {
	if t.Workspace != "" {
		return t.Workspace
	}
	return filepath.Join(stateDir, "workspace")
}

func (t Tools) validate() error {
	if t.Workspace != "" && !filepath.IsAbs(t.Workspace) {
		return fmt.Errorf("config: tools.workspace %q is not an absolute path", t.Workspace)
	}
	if len(t.TrustedDirs) == 0 {
		return fmt.Errorf("config: tools.trusted_dirs is empty")
	}
	for _, list := range []struct {
		key  string
		dirs []string
	}{{"trusted_dirs", t.TrustedDirs}, {"system_dirs", t.SystemDirs}} {
		for i, d := range list.dirs {
			if !filepath.IsAbs(d) || filepath.Clean(d) != d {
				return fmt.Errorf("config: tools.%s[%d] %q is not a clean absolute path", list.key, i, d)
			}
		}
	}
	for i, p := range t.FetchAllowPrefixes {
		if _, err := netip.ParsePrefix(p); err != nil {
			return fmt.Errorf("config: tools.fetch_allow_prefixes[%d] %q is not a prefix such as \"10.1.2.0/24\"", i, p)
		}
	}
	for _, r := range []struct {
		key    string
		v      Duration
		lo, hi time.Duration
	}{
		{"tools.wall_time", t.WallTime, MinToolWallTime, MaxToolWallTime},
		{"tools.cpu_time", t.CPUTime, MinToolCPUTime, MaxToolCPUTime},
	} {
		if err := checkRange(r.key, r.v, r.lo, r.hi); err != nil {
			return err
		}
	}
	for _, r := range []struct {
		key         string
		v, min, max int64
	}{
		{"memory_bytes", t.MemoryBytes, MinToolMemoryBytes, MaxToolMemoryBytes},
		{"open_files", t.OpenFiles, MinToolOpenFiles, MaxToolOpenFiles},
		{"processes", t.Processes, MinToolProcesses, MaxToolProcesses},
		{"max_file_bytes", t.MaxFileBytes, MinToolFileBytes, MaxToolFileBytes},
		{"output_bytes", t.OutputBytes, MinToolOutputBytes, MaxToolOutputBytes},
	} {
		if r.v < r.min || r.v > r.max {
			return fmt.Errorf("config: tools.%s %d out of range [%d, %d]", r.key, r.v, r.min, r.max)
		}
	}
	return nil
}
