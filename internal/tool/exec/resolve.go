package exec

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// resolver turns a program name from argv[0] into the absolute path of the
// file that will run. It never consults the caller's PATH.
type resolver struct {
	// trusted are the trusted directories, absolute and symlink-resolved.
	trusted []string
}

// newResolver resolves each trusted directory's own symlinks (/bin ->
// /usr/bin), so that containment is checked on real paths, keeps each
// real directory once, and refuses a directory that group or others may
// write.
func newResolver(dirs []string) (*resolver, error) {
	r := &resolver{}
	for _, d := range dirs {
		if !filepath.IsAbs(d) {
			return nil, fmt.Errorf("exec: trusted directory %q is not absolute", d)
		}
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue // a trusted directory that does not exist here trusts nothing
		}
		fi, err := os.Stat(real)
		if err != nil || !fi.IsDir() {
			continue
		}
		if fi.Mode().Perm()&0o022 != 0 {
			return nil, fmt.Errorf("exec: trusted directory %s is writable by group or others (%s): anyone could plant a program in it", d, fi.Mode().Perm())
		}
		if real = filepath.Clean(real); !slices.Contains(r.trusted, real) { // /bin is /usr/bin on merged-/usr systems
			r.trusted = append(r.trusted, real)
		}
	}
	if len(r.trusted) == 0 {
		return nil, fmt.Errorf("exec: none of the trusted directories %q exists", dirs)
	}
	return r, nil
}

// resolve returns the absolute, symlink-resolved path of name: a bare
// name is looked up in the trusted directories in order (the first that
// has it); an absolute path is taken as given. Either way the resolved
// file must be a regular, executable file inside a trusted directory, so
// a symlink named "ls" pointing at rm resolves to rm, and one pointing
// outside the trusted directories is refused. Relative paths with a slash
// ("./x", "bin/x") are refused.
func (r *resolver) resolve(name string) (string, error) {
	switch {
	case name == "":
		return "", fmt.Errorf("%w: empty program name", errInvalid)
	case strings.ContainsRune(name, 0):
		return "", fmt.Errorf("%w: program name holds a NUL byte", errInvalid)
	case filepath.IsAbs(name):
		return r.check(name, name)
	case strings.ContainsRune(name, '/'):
		return "", fmt.Errorf("%w: program %q: a relative path is refused; give a bare name (looked up in the trusted directories) or an absolute path", errInvalid, name)
	}
	for _, d := range r.trusted {
		p := filepath.Join(d, name)
		if _, err := os.Lstat(p); err == nil {
			return r.check(name, p)
		}
	}
	return "", fmt.Errorf("%w: program %q is in none of the trusted directories %s", errInvalid, name, strings.Join(r.trusted, ":"))
}

// check resolves p's symlinks and checks the result.
func (r *resolver) check(name, p string) (string, error) {
	real, err := filepath.EvalSymlinks(p)
	if err != nil {
		return "", fmt.Errorf("%w: program %q: %v", errInvalid, name, err)
	}
	if !r.inTrusted(real) {
		return "", fmt.Errorf("%w: program %q resolves to %s, outside the trusted directories %s", errInvalid, name, real, strings.Join(r.trusted, ":"))
	}
	fi, err := os.Stat(real)
	if err != nil {
		return "", fmt.Errorf("%w: program %q: %v", errInvalid, name, err)
	}
	if !fi.Mode().IsRegular() || fi.Mode().Perm()&0o111 == 0 {
		return "", fmt.Errorf("%w: program %q (%s) is not an executable file", errInvalid, name, real)
	}
	return real, nil
}

// inTrusted reports whether p lies directly or deeper inside a trusted
// directory.
func (r *resolver) inTrusted(p string) bool {
	for _, d := range r.trusted {
		if within(d, p) {
			return true
		}
	}
	return false
}

// within reports whether p is dir or lies inside it (both clean and
// absolute).
func within(dir, p string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, "../") && !filepath.IsAbs(rel)
}
