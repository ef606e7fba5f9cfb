// Positive control for the dependency policy check (.ci/run step 3f): this
// module breaks every rule the checker enforces through one dependency, which
// go.mod replaces with the local directory ./fake. That directory claims the
// path of a module on the deny-list and carries a GPL-3.0 LICENSE, so
// deppolicy must report deny, allow (licence), replace and go.sum violations.
module palyra.invalid/deppolicycontrol

go 1.26.0

require github.com/satori/go.uuid v1.2.0

replace github.com/satori/go.uuid => ./fake
