package sigv4

import (
	"strings"
)

// Authorization is a parsed SigV4 Authorization header:
//
//	AWS4-HMAC-SHA256 Credential=AKID/20261204/us-east-1/ssm/aws4_request,
//	  SignedHeaders=content-type;host;x-amz-date;x-amz-target, Signature=<64 hex>
type Authorization struct {
	AccessKeyID   string
	Date          string // YYYYMMDD of the credential scope
	Region        string
	Service       string
	SignedHeaders []string // lower case, sorted as sent
	Signature     string   // 64 lower-case hex digits
}

// maxAuthorizationLen bounds the header we are willing to parse.
const maxAuthorizationLen = 4096

// ParseAuthorization parses a SigV4 Authorization header value. Malformed
// values give an *Error with code IncompleteSignatureException, or
// InvalidSignatureException for an unsupported algorithm.
func ParseAuthorization(h string) (Authorization, error) {
	var a Authorization
	if len(h) > maxAuthorizationLen {
		return a, errorf(CodeIncompleteSignature, "Authorization header is too long.")
	}
	alg, rest, ok := strings.Cut(strings.TrimSpace(h), " ")
	if !ok || alg != Algorithm {
		if strings.HasPrefix(h, "AWS4-") || strings.HasPrefix(h, "AWS ") {
			return a, errorf(CodeIncompleteSignature, "Unsupported AWS 'algorithm': '%s'.", alg)
		}
		return a, errorf(CodeIncompleteSignature, "Authorization header requires 'Credential' parameter. Authorization header requires 'Signature' parameter. Authorization header requires 'SignedHeaders' parameter. Authorization=%s", truncate(h, 64))
	}
	var cred, signed, sig string
	var seen [3]bool
	for _, part := range strings.Split(rest, ",") {
		k, val, ok := strings.Cut(strings.TrimSpace(part), "=")
		if !ok {
			return a, errorf(CodeIncompleteSignature, "Authorization header format is invalid: %q is not a key=value pair.", truncate(part, 64))
		}
		var idx int
		switch k {
		case "Credential":
			cred, idx = val, 0
		case "SignedHeaders":
			signed, idx = val, 1
		case "Signature":
			sig, idx = val, 2
		default:
			return a, errorf(CodeIncompleteSignature, "Authorization header has an unknown parameter %q.", truncate(k, 32))
		}
		if seen[idx] {
			return a, errorf(CodeIncompleteSignature, "Authorization header repeats the parameter %s.", k)
		}
		seen[idx] = true
	}
	var missing []string
	for i, name := range []string{"Credential", "SignedHeaders", "Signature"} {
		if !seen[i] {
			missing = append(missing, "Authorization header requires '"+name+"' parameter.")
		}
	}
	if len(missing) > 0 {
		return a, errorf(CodeIncompleteSignature, "%s Authorization=%s", strings.Join(missing, " "), Algorithm)
	}
	if err := a.parseCredential(cred); err != nil {
		return a, err
	}
	if signed == "" {
		return a, errorf(CodeIncompleteSignature, "Authorization header requires a non-empty 'SignedHeaders' parameter.")
	}
	a.SignedHeaders = strings.Split(signed, ";")
	for _, sh := range a.SignedHeaders {
		if sh == "" || sh != strings.ToLower(sh) || strings.ContainsAny(sh, " \t:") {
			return a, errorf(CodeIncompleteSignature, "SignedHeaders contains an invalid header name %q.", truncate(sh, 64))
		}
	}
	if len(sig) != 64 || strings.Trim(sig, "0123456789abcdef") != "" {
		return a, errorf(CodeIncompleteSignature, "Signature must be 64 lower-case hexadecimal digits.")
	}
	a.Signature = sig
	return a, nil
}

// parseCredential parses "AKID/YYYYMMDD/region/service/aws4_request".
func (a *Authorization) parseCredential(cred string) error {
	parts := strings.Split(cred, "/")
	if len(parts) != 5 || parts[4] != "aws4_request" {
		return errorf(CodeIncompleteSignature, "Credential should be scoped to a valid region, service and terminator: '%s'.", truncate(cred, 128))
	}
	for _, p := range parts {
		if p == "" {
			return errorf(CodeIncompleteSignature, "Credential has an empty component: '%s'.", truncate(cred, 128))
		}
	}
	if len(parts[1]) != 8 || strings.Trim(parts[1], "0123456789") != "" {
		return errorf(CodeIncompleteSignature, "Credential date must be YYYYMMDD: '%s'.", truncate(parts[1], 16))
	}
	a.AccessKeyID, a.Date, a.Region, a.Service = parts[0], parts[1], parts[2], parts[3]
	return nil
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
