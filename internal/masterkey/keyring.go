package masterkey

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/zalando/go-keyring"
)

// keyringService is the service name of palyra's entries in the OS keyring.
const keyringService = "palyra"

// keyringTimeout bounds each keyring operation: a keyring that prompts or
// hangs must not hang the start.
const keyringTimeout = 10 * time.Second

// withTimeout runs f with keyringTimeout.
func withTimeout(f func() error) error {
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(keyringTimeout):
		return fmt.Errorf("no answer after %v", keyringTimeout)
	}
}

// ProbeKeyring checks that an OS keyring is usable: it stores, reads back
// and deletes a random entry. Its error names what is missing.
func ProbeKeyring() error {
	var b [8]byte
	rand.Read(b[:])
	user, val := "probe-"+hex.EncodeToString(b[:]), hex.EncodeToString(b[:])
	err := withTimeout(func() error {
		if err := keyring.Set(keyringService, user, val); err != nil {
			return err
		}
		got, err := keyring.Get(keyringService, user)
		if err != nil {
			return err
		}
		if got != val {
			return errors.New("read back a different value")
		}
		return keyring.Delete(keyringService, user)
	})
	if err != nil {
		what := "the OS keyring"
		switch runtime.GOOS {
		case "linux", "freebsd", "openbsd", "netbsd":
			what = "a Secret Service (gnome-keyring, KWallet or keepassxc) on the session D-Bus (DBUS_SESSION_BUS_ADDRESS), unlocked"
		case "darwin":
			what = "the login Keychain, unlocked"
		case "windows":
			what = "the Windows Credential Manager"
		}
		return fmt.Errorf("masterkey: provider keyring: no usable OS keyring: it needs %s (store-read-delete probe failed: %v); use provider passphrase or env instead", what, err)
	}
	return nil
}

func keyringLoad(account string) (*Key, error) {
	if err := ProbeKeyring(); err != nil {
		return nil, err
	}
	var v string
	err := withTimeout(func() (err error) { v, err = keyring.Get(keyringService, account); return })
	if errors.Is(err, keyring.ErrNotFound) {
		return nil, fmt.Errorf("masterkey: provider keyring: no entry service %q account %q in the OS keyring", keyringService, account)
	}
	if err != nil {
		return nil, fmt.Errorf("masterkey: provider keyring: %w", err)
	}
	raw, err := base64.StdEncoding.DecodeString(v)
	if err != nil || len(raw) != Size {
		return nil, fmt.Errorf("masterkey: provider keyring: entry %q is malformed", account)
	}
	var k Key
	copy(k.b[:], raw)
	clear(raw)
	return &k, nil
}

func keyringStore(account string, k *Key) error {
	if err := ProbeKeyring(); err != nil {
		return err
	}
	var existing string
	err := withTimeout(func() (err error) { existing, err = keyring.Get(keyringService, account); return })
	if err == nil && existing != "" {
		return fmt.Errorf("masterkey: provider keyring: the OS keyring already holds a master key (service %q, account %q); if its state directory is gone for good, delete that entry first", keyringService, account)
	}
	if err := withTimeout(func() error { return keyring.Set(keyringService, account, k.Base64()) }); err != nil {
		return fmt.Errorf("masterkey: provider keyring: %w", err)
	}
	return nil
}

func keyringDelete(account string) error {
	err := withTimeout(func() error { return keyring.Delete(keyringService, account) })
	if err != nil && !errors.Is(err, keyring.ErrNotFound) {
		return fmt.Errorf("masterkey: provider keyring: %w", err)
	}
	return nil
}
