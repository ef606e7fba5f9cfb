package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

const mitText = `MIT License

Copyright (c) 2026 Example

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
`

const testPolicy = `
allow = ["MIT", "BSD-3-Clause"]
[[deny]]
module = "example.com/bad"
reason = "known bad"
[[deny]]
module = "example.com/family/..."
reason = "whole family"
[[override]]
module = "example.com/nolicence"
licenses = ["BSD-3-Clause"]
reason = "licence stated in README only"
[[override]]
module = "example.com/apache"
licenses = ["Apache-2.0"]
reason = "set by hand"
`

func moduleDir(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func mustPolicy(t *testing.T, text string) *Policy {
	t.Helper()
	p, err := ParsePolicy([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestParsePolicyRejects(t *testing.T) {
	for name, text := range map[string]string{
		"empty allow":        `allow = []`,
		"deny without why":   "allow=[\"MIT\"]\n[[deny]]\nmodule=\"x\"\n",
		"override no reason": "allow=[\"MIT\"]\n[[override]]\nmodule=\"x\"\nlicenses=[\"MIT\"]\n",
		"override no ids":    "allow=[\"MIT\"]\n[[override]]\nmodule=\"x\"\nreason=\"r\"\n",
		"unknown key":        "allow=[\"MIT\"]\nalow=[\"GPL-3.0\"]\n",
	} {
		if _, err := ParsePolicy([]byte(text)); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
}

func TestRepoPolicyParses(t *testing.T) {
	p, err := LoadPolicy("../../../.ci/dependency-policy.toml")
	if err != nil {
		t.Fatal(err)
	}
	for _, id := range []string{"GPL-3.0", "AGPL-3.0", "LGPL-2.1", "SSPL-1.0"} {
		if p.allowed(id) {
			t.Errorf("repo policy allows %s", id)
		}
	}
}

func TestDetectLicences(t *testing.T) {
	dir := moduleDir(t, map[string]string{"LICENSE": mitText, "license.go": "package x", "README": "hi"})
	ids, files, err := DetectLicences(dir)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(ids, ",") != "MIT" || strings.Join(files, ",") != "LICENSE" {
		t.Fatalf("ids %v files %v", ids, files)
	}
}

func TestCheck(t *testing.T) {
	p := mustPolicy(t, testPolicy)
	mit := moduleDir(t, map[string]string{"LICENSE.md": mitText})
	apache := moduleDir(t, map[string]string{"COPYING": mitText})
	none := moduleDir(t, map[string]string{"README": "no licence"})
	garbled := moduleDir(t, map[string]string{"LICENSE": "all rights reserved, ask us"})
	sum := ParseGoSum([]byte(strings.Join([]string{
		"example.com/ok v1.0.0 h1:aaaa=",
		"example.com/ok v1.0.0/go.mod h1:bbbb=",
		"example.com/bad v1.0.0 h1:cccc=",
		"example.com/family/sub v1.0.0 h1:dddd=",
		"example.com/nolicence v1.0.0 h1:eeee=",
		"example.com/nosum v1.0.0/go.mod h1:ffff=",
		"example.com/other v1.0.0 h1:gggg=",
		"example.com/garbled v1.0.0 h1:hhhh=",
		"example.com/fork v1.1.0 h1:iiii=",
	}, "\n")))
	mods := []Module{
		{Path: "example.com/ok", Version: "v1.0.0", Dir: mit},
		{Path: "example.com/bad", Version: "v1.0.0", Dir: mit},
		{Path: "example.com/family/sub", Version: "v1.0.0", Dir: mit},
		{Path: "example.com/familyother", Version: "v1.0.0", Dir: mit}, // not under the prefix; no go.sum line
		{Path: "example.com/nolicence", Version: "v1.0.0", Dir: none},
		{Path: "example.com/nosum", Version: "v1.0.0", Dir: mit},
		{Path: "example.com/other", Version: "v1.0.0", Dir: none},
		{Path: "example.com/garbled", Version: "v1.0.0", Dir: garbled},
		{Path: "example.com/apache", Version: "v1.0.0", Dir: apache, ReplacePath: "example.com/fork", ReplaceVersion: "v1.1.0"},
		{Path: "example.com/local", Version: "v1.0.0", Dir: mit, ReplacePath: "../local"},
	}
	var got []string
	for _, v := range Check(p, mods, sum) {
		got = append(got, v.Module+" "+v.Rule)
	}
	want := []string{
		"example.com/apache@v1.0.0 allow",
		"example.com/bad@v1.0.0 deny",
		"example.com/family/sub@v1.0.0 deny",
		"example.com/familyother@v1.0.0 go.sum",
		"example.com/garbled@v1.0.0 no-licence",
		"example.com/local@v1.0.0 replace",
		"example.com/nosum@v1.0.0 go.sum",
		"example.com/other@v1.0.0 no-licence",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("violations:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

// A detected licence that is not allowed is reported (the same path the CI
// control exercises with a GPL-3.0 LICENSE).
func TestCheckDetectedNotAllowed(t *testing.T) {
	p := mustPolicy(t, `allow = ["BSD-3-Clause"]`)
	dir := moduleDir(t, map[string]string{"LICENSE": mitText})
	vs := Check(p, []Module{{Path: "example.com/m", Version: "v1.0.0", Dir: dir}},
		ParseGoSum([]byte("example.com/m v1.0.0 h1:x=\n")))
	if len(vs) != 1 || vs[0].Rule != "allow" || !strings.Contains(vs[0].Detail, "MIT") {
		t.Fatalf("got %v", vs)
	}
}

func TestCheckReplaces(t *testing.T) {
	vs, err := CheckReplaces([]byte("module m\n\ngo 1.26\n\nreplace a.example/x => ../x\n\nreplace b.example/y => c.example/y v1.0.0\n"))
	if err != nil {
		t.Fatal(err)
	}
	if len(vs) != 1 || vs[0].Module != "a.example/x" || vs[0].Rule != "replace" {
		t.Fatalf("got %v", vs)
	}
}
