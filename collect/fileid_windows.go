package collect

import (
	"os"

	"golang.org/x/sys/windows"
)

// fileID returns the volume serial number and file index of an open file:
// what identifies it across renames on NTFS.
func fileID(f *os.File, _ os.FileInfo) (dev, ino uint64, ok bool) {
	var info windows.ByHandleFileInformation
	if err := windows.GetFileInformationByHandle(windows.Handle(f.Fd()), &info); err != nil {
		return 0, 0, false
	}
	return uint64(info.VolumeSerialNumber), uint64(info.FileIndexHigh)<<32 | uint64(info.FileIndexLow), true
}
