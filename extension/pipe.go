package extension

// pipeSDDL is the security descriptor of the extension's named pipe on
// Windows: a protected DACL that gives full access to SYSTEM (osqueryd),
// Administrators (an elevated osqueryi) and the account the extension runs
// as, when that is another (a developer's osqueryi), and nothing to anyone
// else. Whoever can open the pipe can read every detection and stop the
// extension.
func pipeSDDL(userSID string) string {
	sd := "D:P(A;;GA;;;SY)(A;;GA;;;BA)"
	if userSID != "" && userSID != "S-1-5-18" && userSID != "S-1-5-32-544" {
		sd += "(A;;GA;;;" + userSID + ")"
	}
	return sd
}
