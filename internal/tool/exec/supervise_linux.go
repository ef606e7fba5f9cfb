package exec

import (
	"encoding/json"
	"os"
	"os/signal"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// supervisorStep is the argument that runs the second stage of the
// launcher (the one that sandboxes itself and execve's the program); the
// first stage (LauncherArg) supervises it.
const supervisorStep = "__palyra-sandbox-stage2"

// cleanupBound bounds how long the supervisor keeps killing descendants
// that are still being reparented to it.
const cleanupBound = 5 * time.Second

// supervise is the launcher's first stage. It makes itself a child
// subreaper (PR_SET_CHILD_SUBREAPER), so every descendant of the program
// that outlives its parent — a daemonized child that called setsid or
// setpgrp and closed its output — is reparented to it rather than to
// init; it re-executes this binary (/proc/self/exe) as the second stage,
// which applies the sandbox and the limits to itself only and execve's
// the program. When the program exits, or the daemon sends SIGTERM (wall
// time or output limit), it SIGKILLs the program and every remaining
// descendant, reaps them, reports the program's exit on the status pipe
// (fd 3) and exits 0. Nothing of the sandbox or the limits applies to the
// supervisor itself, so RLIMIT_AS never touches the Go runtime that keeps
// running here.
func supervise(specJSON []byte) int {
	runtime.LockOSThread() // PR_SET_PDEATHSIG of the second stage follows this thread
	status := os.NewFile(statusFD, "status")
	report := func(s launchStatus) {
		b, _ := json.Marshal(s)
		status.Write(append(b, '\n'))
	}
	// Descriptors palyrad inherited without O_CLOEXEC stop here; the
	// status pipe is passed on explicitly.
	if e := cloexecInherited(); e != 0 {
		report(launchStatus{Err: "launcher: close_range: " + e.Error()})
		return 126
	}
	if err := unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0); err != nil {
		report(launchStatus{Err: "launcher: PR_SET_CHILD_SUBREAPER: " + err.Error()})
		return 126
	}
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if specJSON == nil {
		report(launchStatus{Err: "launcher: no spec on fd 4"})
		return 126
	}
	specR, specW, err := os.Pipe()
	if err != nil {
		report(launchStatus{Err: "launcher: " + err.Error()})
		return 126
	}
	// #nosec G204 G702 -- re-executes this very binary (/proc/self/exe) with a fixed step name; the spec travels on fd 4, never in argv
	pid, err := syscall.ForkExec("/proc/self/exe", []string{os.Args[0], supervisorStep}, &syscall.ProcAttr{
		Env:   os.Environ(),
		Files: []uintptr{0, 1, 2, statusFD, specR.Fd()},
		Sys:   &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL},
	})
	specR.Close()
	if err != nil {
		specW.Close()
		report(launchStatus{Err: "launcher: start the sandbox stage: " + err.Error()})
		return 126
	}
	go func() {
		specW.Write(specJSON) // an error means the second stage died; its status says why
		specW.Close()
	}()
	done := make(chan struct{})
	go func() {
		select {
		case <-term:
			_ = syscall.Kill(pid, syscall.SIGKILL)
		case <-done:
		}
	}()
	var ws syscall.WaitStatus
	var ru syscall.Rusage
	for {
		_, err := syscall.Wait4(pid, &ws, 0, &ru)
		if err != syscall.EINTR {
			break
		}
	}
	close(done)
	killDescendants()
	ex := &launchExit{Code: ws.ExitStatus(), UserUS: ru.Utime.Nano() / 1e3, SystemUS: ru.Stime.Nano() / 1e3}
	if ws.Signaled() {
		ex.Code, ex.Signal = -1, int(ws.Signal())
	}
	report(launchStatus{Exit: ex})
	return 0
}

// killDescendants SIGKILLs and reaps every child of this process (the
// descendants reparented to it, a subreaper) until none is left or
// cleanupBound passes. Each round first reaps without blocking, so /proc
// is scanned only while a child is alive.
func killDescendants() {
	deadline := time.Now().Add(cleanupBound)
	for time.Now().Before(deadline) {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		switch {
		case err == syscall.ECHILD:
			return
		case pid > 0:
			continue
		}
		for _, c := range children(os.Getpid()) {
			_ = syscall.Kill(c, syscall.SIGKILL)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// children are the pids whose parent is ppid, from /proc/PID/stat.
func children(ppid int) []int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat") // #nosec G304 -- procfs
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...; comm may hold spaces and parentheses.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) >= 2 && f[1] == strconv.Itoa(ppid) {
			out = append(out, pid)
		}
	}
	return out
}
