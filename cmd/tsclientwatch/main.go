// Command tsclientwatch finds programs run from an RDP client's redirected
// drive (\\tsclient\..., \Device\Mup\tsclient\..., xrdp's thinclient_drives)
// in Windows and Elastic event logs, and serves detections to osquery and
// SQL. Run "tsclientwatch help" for the subcommands.
package main

import "os"

func main() {
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}
