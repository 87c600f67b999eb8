package privdir

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"unsafe"

	"golang.org/x/sys/windows"

	"github.com/tsclientwatch/tsclientwatch/internal/safefile"
)

// makeDir creates dir (and missing parents) with dirSDDL, so it is private
// from its first moment: a directory under %ProgramData% would otherwise
// inherit write access for Users.
func makeDir(dir string) error {
	if fi, err := os.Stat(dir); err == nil {
		if !fi.IsDir() {
			return fmt.Errorf("%s is not a directory", dir)
		}
		return nil
	}
	if err := os.MkdirAll(filepath.Dir(dir), 0o755); err != nil {
		return err
	}
	user, err := currentUser()
	if err != nil {
		return err
	}
	sd, err := windows.SecurityDescriptorFromString(dirSDDL(user))
	if err != nil {
		return err
	}
	sa := &windows.SecurityAttributes{Length: uint32(unsafe.Sizeof(windows.SecurityAttributes{})), SecurityDescriptor: sd}
	p, err := windows.UTF16PtrFromString(dir)
	if err != nil {
		return err
	}
	err = windows.CreateDirectory(p, sa)
	if errors.Is(err, windows.ERROR_ALREADY_EXISTS) || errors.Is(err, fs.ErrExist) {
		return nil
	}
	return err
}

// checkDir applies checkDirSDDL to the directory, and safefile's rule to
// every directory above it (nobody else may rename or replace it).
func checkDir(dir string, _ os.FileInfo) error {
	sddl, err := namedSecurity(dir)
	if err != nil {
		return fmt.Errorf("read its owner and permissions: %w", err)
	}
	user, err := currentUser()
	if err != nil {
		return err
	}
	if err := checkDirSDDL(sddl, user); err != nil {
		return fmt.Errorf("%v (want: "+icaclsHint+")", err, dir, dir)
	}
	c := safefile.Checker{User: user, Security: namedSecurity}
	return c.Check(dir, sddl)
}

func namedSecurity(dir string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT,
		windows.OWNER_SECURITY_INFORMATION|windows.DACL_SECURITY_INFORMATION)
	if err != nil {
		return "", err
	}
	s := sd.String()
	if s == "" {
		return "", errors.New("the security descriptor cannot be shown as SDDL")
	}
	return s, nil
}

func currentUser() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("read this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}
