package fanotify

import (
	"reflect"
	"strings"
	"testing"

	"github.com/tsclientwatch/tsclientwatch/internal/mountinfo"
)

const sample = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /home/alice/thinclient_drives rw,nosuid,nodev,relatime shared:20 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000
41 22 0:36 / /home/bob/.thinclient_drives rw,nosuid,nodev - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1001,group_id=1001
42 22 0:37 / /tmp/x/home/root/thinclient_drives rw - fuse.bindfs /tmp/x/src rw,user_id=0
43 22 0:38 / /mnt/with\040space rw - fuse.sshfs host:/ rw
44 22 0:39 / /run/user/1002/drives rw - fuse.xrdp-chansrv xrdp-chansrv rw
45 22 0:40 / /tmp/u/thinclient_drives rw - ext4 /dev/sda1 rw
46 22 0:41 / /tmp/v/thinclient_drives rw - fuse /tmp/v/src rw,user_id=1003,group_id=1004,allow_other
47 22 0:42 / /tmp/w/thinclient_drives rw - fuseblk /dev/sdb1 rw
`

func TestSelect(t *testing.T) {
	// The parser's own tests are in internal/mountinfo.
	ms, err := mountinfo.Parse(strings.NewReader(sample), "mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 9 {
		t.Fatalf("%d mounts", len(ms))
	}
	if ms[4].Point != "/mnt/with space" || ms[4].FSType != "fuse.sshfs" || ms[4].ID != 43 {
		t.Errorf("escaped mount = %+v", ms[4])
	}
	got := Select(ms, []string{"thinclient_drives"}, DefaultFSTypes)
	var points []string
	for _, m := range got {
		points = append(points, m.Point)
	}
	// FUSE only: the ext4 directory and the fuseblk mount named
	// thinclient_drives are left out.
	want := []string{"/home/alice/thinclient_drives", "/home/bob/.thinclient_drives", "/tmp/x/home/root/thinclient_drives",
		"/run/user/1002/drives", "/tmp/v/thinclient_drives"}
	if !reflect.DeepEqual(points, want) {
		t.Errorf("Select = %q, want %q", points, want)
	}
	for _, tt := range []struct{ i, uid, gid int }{{1, 1000, 1000}, {3, 0, -1}, {4, -1, -1}, {7, 1003, 1004}} {
		if ms[tt.i].UID != tt.uid || ms[tt.i].GID != tt.gid {
			t.Errorf("%s: owner %d:%d, want %d:%d", ms[tt.i].Point, ms[tt.i].UID, ms[tt.i].GID, tt.uid, tt.gid)
		}
	}
}
