package fanotify

import (
	"reflect"
	"strings"
	"testing"
)

const sample = `22 1 8:1 / / rw,relatime shared:1 - ext4 /dev/sda1 rw
40 22 0:35 / /home/alice/thinclient_drives rw,nosuid,nodev,relatime shared:20 - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1000,group_id=1000
41 22 0:36 / /home/bob/.thinclient_drives rw,nosuid,nodev - fuse.xrdp-chansrv xrdp-chansrv rw,user_id=1001,group_id=1001
42 22 0:37 / /tmp/x/home/root/thinclient_drives rw - fuse.bindfs /tmp/x/src rw,user_id=0
43 22 0:38 / /mnt/with\040space rw - fuse.sshfs host:/ rw
44 22 0:39 / /run/user/1002/drives rw - fuse.xrdp-chansrv xrdp-chansrv rw
`

func TestParseMountinfo(t *testing.T) {
	ms, err := ParseMountinfo(strings.NewReader(sample), "mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	if len(ms) != 6 {
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
	want := []string{"/home/alice/thinclient_drives", "/home/bob/.thinclient_drives", "/tmp/x/home/root/thinclient_drives", "/run/user/1002/drives"}
	if !reflect.DeepEqual(points, want) {
		t.Errorf("Select = %q, want %q", points, want)
	}
}

func TestParseMountinfoErrors(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"22 1 8:1 / / rw\n", "line 1: not a mountinfo line"},
		{sample + "x 1 8:1 / / rw - ext4 a rw\n", "line 7: mount id"},
	} {
		ms, err := ParseMountinfo(strings.NewReader(tt.in), "mi")
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "mi: ") {
			t.Errorf("err = %v, want %q", err, tt.want)
		}
		_ = ms
	}
}

func TestUnescape(t *testing.T) {
	for in, want := range map[string]string{
		`a\040b`:   "a b",
		`a\134b`:   `a\b`,
		`tab\011x`: "tab\tx",
		`bad\09`:   `bad\09`,
		`end\04`:   `end\04`,
		`plain`:    "plain",
	} {
		if got := unescape(in); got != want {
			t.Errorf("unescape(%q) = %q, want %q", in, got, want)
		}
	}
}
