// Package contrib holds no code: it is the directory of files for running
// palyrad under a service manager (systemd user and system units, a launchd
// agent) and the commented sample configuration. Its tests check them.
package contrib
