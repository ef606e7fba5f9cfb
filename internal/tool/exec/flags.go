package exec

import (
	"fmt"
	"slices"
	"strings"
)

// UnverifiedLong is the entry flags carry when the program has no table of
// long options (longOptions) and a long option was given: its written form
// may be a GNU abbreviation ("--rec" for "--recursive") that no policy
// naming full options would match. A policy can refuse such calls with
// context.flags.contains("--?").
const UnverifiedLong = "--?"

// longOptions are the long options of common destructive programs (GNU
// coreutils, findutils and tar, by the base name of the resolved program).
// For these, a long option that is not an exact entry is expanded to the
// entry it is a unique prefix of, as getopt_long does ("--rec" becomes
// "--recursive"); one that is ambiguous or unknown is refused before
// authorization, so an abbreviation never slips past a policy written with
// full option names. See docs/tools.md.
var longOptions = map[string][]string{
	"rm":       {"--dir", "--force", "--help", "--interactive", "--no-preserve-root", "--one-file-system", "--preserve-root", "--recursive", "--verbose", "--version"},
	"cp":       {"--archive", "--attributes-only", "--backup", "--context", "--copy-contents", "--debug", "--dereference", "--force", "--help", "--interactive", "--keep-directory-symlink", "--link", "--no-clobber", "--no-dereference", "--no-preserve", "--no-target-directory", "--one-file-system", "--parents", "--preserve", "--recursive", "--reflink", "--remove-destination", "--sparse", "--strip-trailing-slashes", "--suffix", "--symbolic-link", "--target-directory", "--update", "--verbose", "--version"},
	"mv":       {"--backup", "--context", "--debug", "--exchange", "--force", "--help", "--interactive", "--no-clobber", "--no-copy", "--no-target-directory", "--strip-trailing-slashes", "--suffix", "--target-directory", "--update", "--verbose", "--version"},
	"ln":       {"--backup", "--directory", "--force", "--help", "--interactive", "--logical", "--no-dereference", "--no-target-directory", "--physical", "--relative", "--suffix", "--symbolic", "--target-directory", "--verbose", "--version"},
	"chmod":    {"--changes", "--dereference", "--help", "--no-dereference", "--no-preserve-root", "--preserve-root", "--quiet", "--recursive", "--reference", "--silent", "--verbose", "--version"},
	"chown":    {"--changes", "--dereference", "--from", "--help", "--no-dereference", "--no-preserve-root", "--preserve-root", "--quiet", "--recursive", "--reference", "--silent", "--verbose", "--version"},
	"chgrp":    {"--changes", "--dereference", "--help", "--no-dereference", "--no-preserve-root", "--preserve-root", "--quiet", "--recursive", "--reference", "--silent", "--verbose", "--version"},
	"find":     {"--help", "--version"},
	"dd":       {"--help", "--version"},
	"install":  {"--backup", "--compare", "--context", "--debug", "--directory", "--group", "--help", "--mode", "--no-target-directory", "--owner", "--preserve-context", "--preserve-timestamps", "--strip", "--strip-program", "--suffix", "--target-directory", "--verbose", "--version"},
	"shred":    {"--exact", "--force", "--help", "--iterations", "--random-source", "--remove", "--size", "--verbose", "--version", "--zero"},
	"truncate": {"--help", "--io-blocks", "--no-create", "--reference", "--size", "--version"},
	"tar":      {"--absolute-names", "--acls", "--add-file", "--after-date", "--anchored", "--append", "--atime-preserve", "--auto-compress", "--backup", "--block-number", "--blocking-factor", "--bzip2", "--catenate", "--check-device", "--check-links", "--checkpoint", "--checkpoint-action", "--clamp-mtime", "--compare", "--compress", "--concatenate", "--confirmation", "--create", "--delay-directory-restore", "--delete", "--dereference", "--diff", "--directory", "--exclude", "--exclude-backups", "--exclude-caches", "--exclude-caches-all", "--exclude-caches-under", "--exclude-from", "--exclude-ignore", "--exclude-ignore-recursive", "--exclude-tag", "--exclude-tag-all", "--exclude-tag-under", "--exclude-vcs", "--exclude-vcs-ignores", "--extract", "--file", "--files-from", "--force-local", "--format", "--full-time", "--get", "--group", "--group-map", "--gunzip", "--gzip", "--hard-dereference", "--help", "--hole-detection", "--ignore-case", "--ignore-command-error", "--ignore-failed-read", "--ignore-zeros", "--incremental", "--index-file", "--info-script", "--interactive", "--keep-directory-symlink", "--keep-newer-files", "--keep-old-files", "--label", "--level", "--list", "--listed-incremental", "--lzip", "--lzma", "--lzop", "--mode", "--mtime", "--multi-volume", "--new-volume-script", "--newer", "--newer-mtime", "--no-acls", "--no-anchored", "--no-auto-compress", "--no-check-device", "--no-delay-directory-restore", "--no-ignore-case", "--no-ignore-command-error", "--no-null", "--no-overwrite-dir", "--no-quote-chars", "--no-recursion", "--no-same-owner", "--no-same-permissions", "--no-seek", "--no-selinux", "--no-unquote", "--no-verbatim-files-from", "--no-wildcards", "--no-wildcards-match-slash", "--no-xattrs", "--null", "--numeric-owner", "--occurrence", "--old-archive", "--one-file-system", "--one-top-level", "--overwrite", "--overwrite-dir", "--owner", "--owner-map", "--pax-option", "--portability", "--posix", "--preserve-order", "--preserve-permissions", "--quote-chars", "--quoting-style", "--read-full-records", "--record-size", "--recursion", "--recursive-unlink", "--remove-files", "--restrict", "--rmt-command", "--rsh-command", "--same-order", "--same-owner", "--same-permissions", "--seek", "--selinux", "--show-defaults", "--show-omitted-dirs", "--show-snapshot-field-ranges", "--show-stored-names", "--show-transformed-names", "--skip-old-files", "--sort", "--sparse", "--sparse-version", "--starting-file", "--strip-components", "--suffix", "--tape-length", "--test-label", "--to-command", "--to-stdout", "--totals", "--touch", "--transform", "--uncompress", "--ungzip", "--unlink-first", "--unquote", "--update", "--usage", "--use-compress-program", "--utc", "--verbatim-files-from", "--verbose", "--verify", "--version", "--volno-file", "--warning", "--wildcards", "--wildcards-match-slash", "--xattrs", "--xattrs-exclude", "--xattrs-include", "--xform", "--xz", "--zstd"},
}

// expandLong returns the full name of the long option name ("--rec") for
// a program with a table: the exact entry, or the one entry it is a prefix
// of. Ambiguous and unknown names are errors wrapping errInvalid.
func expandLong(program string, table []string, name string) (string, error) {
	if slices.Contains(table, name) {
		return name, nil
	}
	var match []string
	for _, o := range table {
		if strings.HasPrefix(o, name) {
			match = append(match, o)
		}
	}
	switch len(match) {
	case 1:
		return match[0], nil
	case 0:
		return "", fmt.Errorf("%w: %s option %q is not one of its known long options; spell it as %s --help lists it", errInvalid, program, name, program)
	}
	return "", fmt.Errorf("%w: %s option %q is ambiguous (%s); spell the option in full", errInvalid, program, name, strings.Join(match, ", "))
}

// normalizeFlags returns the flags among args of program (the base name
// of the resolved program), normalized so that a policy sees one spelling
// of each: short clusters are split ("-rf" gives "-r" and "-f"), long
// flags lose their "=value" ("--color=auto" gives "--color") and, for a
// program in longOptions, an abbreviation becomes the full name ("--rec"
// gives "--recursive"; an unknown or ambiguous one is an error). For
// other programs, long flags are kept as written and UnverifiedLong is
// added. For tar, a first argument without a dash is read as a cluster of
// short options (tar's traditional form). find's primaries and options
// are single-dash words ("-delete", "-maxdepth"), kept whole rather than
// split into letters. Everything after "--" is an operand, as is "-". Flags after
// operands count too (GNU tools accept them anywhere). The result is
// duplicate-free, in order of first appearance. A short option's attached
// value ("-n5") is split as flags too: over-reporting errs on the side of
// a forbid matching.
func normalizeFlags(program string, args []string) ([]string, error) {
	if program == "tar" && len(args) > 0 && args[0] != "" && !strings.HasPrefix(args[0], "-") {
		// tar's traditional form: a first argument without a dash is a
		// cluster of short options ("tar xf a.tar" is "tar -x -f a.tar").
		args = append([]string{"-" + args[0]}, args[1:]...)
	}
	table, known := longOptions[program]
	var out []string
	seen := map[string]bool{}
	add := func(f string) {
		if !seen[f] {
			seen[f] = true
			out = append(out, f)
		}
	}
	for _, a := range args {
		switch {
		case a == "--":
			return out, nil
		case a == "-" || !strings.HasPrefix(a, "-"):
			continue
		case strings.HasPrefix(a, "--"):
			name, _, _ := strings.Cut(a, "=")
			if !known {
				add(name)
				add(UnverifiedLong)
				continue
			}
			full, err := expandLong(program, table, name)
			if err != nil {
				return nil, err
			}
			add(full)
		case program == "find" && len(a) > 2:
			add(a)
		default:
			for _, c := range a[1:] {
				add("-" + string(c))
			}
		}
	}
	return out, nil
}

// spawningOptions are, by the base name of the resolved program, the
// options with which it runs another program named by the caller (tar's
// --to-command and --checkpoint-action=exec, install's --strip-program):
// no policy on the first program's flags governs what that one does, so
// refuseSpawning refuses them before authorization. -I is tar's
// --use-compress-program, -F its --info-script (--new-volume-script).
var spawningOptions = map[string][]string{
	"tar":     {"--to-command", "--checkpoint-action", "--use-compress-program", "-I", "--rsh-command", "--rmt-command", "--info-script", "--new-volume-script", "-F"},
	"install": {"--strip-program"},
}

// refuseSpawning returns an error wrapping errInvalid when flags (as
// normalizeFlags returns them) hold one of program's spawningOptions.
func refuseSpawning(program string, flags []string) error {
	for _, o := range spawningOptions[program] {
		if slices.Contains(flags, o) {
			return fmt.Errorf("%w: %s %s runs another program, which no policy on %s governs; it is refused (docs/tools.md)", errInvalid, program, o, program)
		}
	}
	return nil
}

// shellQuote is argv as a POSIX shell would read it back: each word in
// single quotes unless it consists only of safe characters.
func shellQuote(argv []string) string {
	var b strings.Builder
	for i, a := range argv {
		if i > 0 {
			b.WriteByte(' ')
		}
		if a != "" && strings.Trim(a, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./=:,+@%") == "" {
			b.WriteString(a)
			continue
		}
		b.WriteByte('\'')
		b.WriteString(strings.ReplaceAll(a, "'", `'\''`))
		b.WriteByte('\'')
	}
	return b.String()
}
