package palyrav1

import "strconv"

// AuditDetails are the facts of a tool run that the guard records in the
// call's outcome (audit format 3): the request hash, the exit status, the
// signal and kill reason when there was one, the durations in microseconds
// and the output hash — never the output itself.
func (r *ToolExecuteResponse) AuditDetails() []string {
	d := []string{
		"request_sha256=" + r.GetRequestSha256(),
		"exit_code=" + strconv.Itoa(int(r.GetExitCode())),
	}
	if r.GetSignal() != "" {
		d = append(d, "signal="+r.GetSignal())
	}
	if r.GetKilled() != "" {
		d = append(d, "killed="+r.GetKilled())
	}
	if r.GetTruncated() {
		d = append(d, "truncated=true")
	}
	return append(d,
		"wall_us="+strconv.FormatInt(r.GetWallUs(), 10),
		"user_us="+strconv.FormatInt(r.GetUserUs(), 10),
		"system_us="+strconv.FormatInt(r.GetSystemUs(), 10),
		"output_sha256="+r.GetOutputSha256(),
	)
}
