//go:build windows

package extension

import (
	"fmt"
	"net"

	"github.com/Microsoft/go-winio"
	"golang.org/x/sys/windows"
)

// listen creates the extension's named pipe with an explicit security
// descriptor (pipeSDDL): SYSTEM, Administrators and the extension's own
// account only, instead of the default named-pipe DACL, which also lets
// Everyone and ANONYMOUS LOGON open it for reading. go-winio creates the
// first instance with FILE_CREATE, so a pipe someone else created first
// under that name makes this fail rather than share it.
func listen(path string) (net.Listener, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return nil, fmt.Errorf("read this process's user: %w", err)
	}
	return winio.ListenPipe(path, &winio.PipeConfig{SecurityDescriptor: pipeSDDL(u.User.Sid.String())})
}
