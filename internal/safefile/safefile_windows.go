//go:build windows

package safefile

import (
	"errors"
	"fmt"
	"os"

	"golang.org/x/sys/windows"
)

// The thin Windows layer: it reads security descriptors and paths and
// leaves every decision to Checker, which the tests drive with recorded
// descriptors.

const ownerAndDACL = windows.OWNER_SECURITY_INFORMATION | windows.DACL_SECURITY_INFORMATION

func open(path string) (*os.File, string, error) {
	// os.Open asks for GENERIC_READ, which includes READ_CONTROL, so the
	// descriptor can be read from the handle that is then read from.
	f, err := os.Open(path)
	if err != nil {
		return nil, "", err // *PathError; keeps ErrNotExist
	}
	real, err := check(f, path)
	if err != nil {
		f.Close()
		return nil, "", err
	}
	return f, real, nil
}

func check(f *os.File, path string) (string, error) {
	fi, err := f.Stat()
	if err != nil {
		return "", err
	}
	if !fi.Mode().IsRegular() {
		return "", fmt.Errorf("%s is not a regular file (%s) (want a regular file)", path, fi.Mode().Type())
	}
	h := windows.Handle(f.Fd())
	final, err := finalPath(h)
	if err != nil {
		return "", fmt.Errorf("%s: resolve its final path: %w", path, err)
	}
	real := displayPath(final)
	sd, err := windows.GetSecurityInfo(h, windows.SE_FILE_OBJECT, ownerAndDACL)
	if err != nil {
		return "", fmt.Errorf("%s: read its owner and permissions: %w", real, err)
	}
	user, err := currentUser()
	if err != nil {
		return "", fmt.Errorf("%s: %w", real, err)
	}
	c := Checker{User: user, Security: namedSecurity, Name: accountName}
	if err := c.Check(real, sd.String()); err != nil {
		return "", err
	}
	return real, nil
}

func namedSecurity(dir string) (string, error) {
	sd, err := windows.GetNamedSecurityInfo(dir, windows.SE_FILE_OBJECT, ownerAndDACL)
	if err != nil {
		return "", err
	}
	s := sd.String()
	if s == "" {
		return "", errors.New("the security descriptor cannot be shown as SDDL")
	}
	return s, nil
}

// finalPath returns the path of the open file with every link and junction
// resolved (\\?\C:\...).
func finalPath(h windows.Handle) (string, error) {
	buf := make([]uint16, windows.MAX_PATH)
	for {
		n, err := windows.GetFinalPathNameByHandle(h, &buf[0], uint32(len(buf)), 0)
		if err != nil {
			return "", err
		}
		if int(n) < len(buf) {
			return windows.UTF16ToString(buf[:n]), nil
		}
		buf = make([]uint16, n+1)
	}
}

func currentUser() (string, error) {
	u, err := windows.GetCurrentProcessToken().GetTokenUser()
	if err != nil {
		return "", fmt.Errorf("read this process's user: %w", err)
	}
	return u.User.Sid.String(), nil
}

// accountName shows DOMAIN\name (SID) when the SID resolves.
func accountName(sid string) string {
	s, err := windows.StringToSid(sid)
	if err != nil {
		return ""
	}
	account, domain, _, err := s.LookupAccount("")
	if err != nil || account == "" {
		return ""
	}
	if domain != "" {
		account = domain + `\` + account
	}
	return account + " (" + sid + ")"
}
