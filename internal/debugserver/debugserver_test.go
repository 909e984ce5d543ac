package debugserver

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestRoutes(t *testing.T) {
	s, err := Start("127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	base := "http://" + s.Addr()
	for _, tc := range []struct {
		path, want string
		code       int
	}{
		{"/debug/goroutines", `"goroutines":`, 200},
		{"/debug/pprof/", "goroutine", 200},
		{"/debug/pprof/goroutine?debug=1", "goroutine profile: total", 200},
		{"/nothing", "", 404},
	} {
		t.Run(tc.path, func(t *testing.T) {
			resp, err := http.Get(base + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			b, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tc.code || !strings.Contains(string(b), tc.want) {
				t.Fatalf("GET %s = %d %.200q, want %d containing %q", tc.path, resp.StatusCode, b, tc.code, tc.want)
			}
		})
	}
	resp, err := http.Get(base + "/debug/goroutines")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var st Stats
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil || st.Goroutines < 2 {
		t.Fatalf("goroutines = %+v, %v", st, err)
	}
}

func TestStartRefusesBadAddress(t *testing.T) {
	if _, err := Start("256.0.0.1:0", nil); err == nil {
		t.Fatal("Start on a bad address: no error")
	}
}
