// Package uuid is a stand-in for the policy control; it is not the real module.
package uuid

// Name is referenced so the package is built.
const Name = "fake"
