package auth

import (
	"strings"
	"testing"
)

const sample = `
account_id: "111122223333"
users:
  - name: Mary-Major
    access_key_id: AKIAMARY
    secret_access_key: s1
  - name: ops
    access_key_id: AKIAOPS
    secret_access_key: s2
    account_id: "444455556666"
    policy:
      actions: ["ssm:*Session*"]
      targets: ["mi-0123*", "tag:Env=dev"]
      documents: ["AWS-Start*"]
      sessions: ["Mary-*", "${aws:username}-*"]
  - name: reader
    access_key_id: AKIAREAD
    secret_access_key: s3
    policy:
      actions: ["ssm:DescribeSessions"]
      targets: []
`

func TestPolicy(t *testing.T) {
	t.Parallel()
	c, err := ParseConfig(strings.NewReader(sample))
	if err != nil {
		t.Fatal(err)
	}
	d, err := NewDirectory(c)
	if err != nil {
		t.Fatal(err)
	}
	mary, _ := d.Lookup("AKIAMARY")
	ops, _ := d.Lookup("AKIAOPS")
	reader, _ := d.Lookup("AKIAREAD")
	if _, ok := d.Lookup("nope"); ok {
		t.Fatal("unknown key found")
	}
	if mary.ARN != "arn:aws:iam::111122223333:user/Mary-Major" || ops.ARN != "arn:aws:iam::444455556666:user/ops" {
		t.Fatalf("ARNs %s %s", mary.ARN, ops.ARN)
	}
	checks := []struct {
		name string
		got  bool
		want bool
	}{
		{"mary any action", mary.MayPerform("ssm:CreateActivation"), true},
		{"mary any target", mary.MayTarget("mi-ffff", nil), true},
		{"mary own session", mary.MayActOnSession("Mary-Major-1", mary.ARN), true},
		{"mary others' session", mary.MayActOnSession("ops-1", ops.ARN), false},
		{"ops action glob", ops.MayPerform("ssm:StartSession"), true},
		{"ops action denied", ops.MayPerform("ssm:CreateActivation"), false},
		{"ops target id", ops.MayTarget("mi-0123456789abcdef0", nil), true},
		{"ops target tag", ops.MayTarget("mi-ffff", map[string]string{"Env": "dev"}), true},
		{"ops target wrong tag", ops.MayTarget("mi-ffff", map[string]string{"Env": "prod"}), false},
		{"ops document", ops.MayUseDocument("AWS-StartSSHSession"), true},
		{"ops document denied", ops.MayUseDocument("SSM-SessionManagerRunShell"), false},
		{"ops others' session by policy", ops.MayActOnSession("Mary-Major-1", mary.ARN), true},
		{"ops username var", ops.MayActOnSession("ops-2", "arn:other"), true},
		{"reader no targets", reader.MayTarget("mi-1", nil), false},
		{"reader action", reader.MayPerform("ssm:StartSession"), false},
	}
	for _, c := range checks {
		if c.got != c.want {
			t.Errorf("%s: got %v", c.name, c.got)
		}
	}
}

func TestConfigErrors(t *testing.T) {
	t.Parallel()
	for _, bad := range []string{
		"users: [{name: 'bad name', access_key_id: a, secret_access_key: b}]",
		"users: [{name: a, access_key_id: '', secret_access_key: b}]",
		"users: [{name: a, access_key_id: k, secret_access_key: b}, {name: a, access_key_id: k2, secret_access_key: b}]",
		"users: [{name: a, access_key_id: k, secret_access_key: b}, {name: b, access_key_id: k, secret_access_key: b}]",
		"users: [{name: a, access_key_id: k, secret_access_key: b, account_id: '12'}]",
		"users: [{name: a, access_key_id: k, secret_access_key: b, colour: red}]",
		"account_id: x",
	} {
		if _, err := ParseConfig(strings.NewReader(bad)); err == nil {
			t.Errorf("accepted %q", bad)
		}
	}
}

func TestGlob(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		p, s string
		want bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*c", "abbbc", true}, {"a*c", "abbb", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"*b*", "abc", true}, {"", "", true}, {"", "a", false},
		{"mi-*", "mi-0", true}, {"a**", "a", true}, {"*a", "bba", true}, {"*a", "bab", false},
	} {
		if got := glob(tc.p, tc.s); got != tc.want {
			t.Errorf("glob(%q,%q) = %v", tc.p, tc.s, got)
		}
	}
}
