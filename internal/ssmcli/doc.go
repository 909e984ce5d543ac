// Package ssmcli implements `tether ssm <operation>`: an AWS CLI v2
// compatible client for the Session Manager operations (start-session,
// resume-session, terminate-session, describe-sessions,
// get-connection-status) and the hybrid-activation operations
// (create-activation, describe-activations, delete-activation,
// describe-instance-information).
//
// The package reproduces the observable behaviour of AWS CLI v2.9.19 as
// recorded in shared/docs/awscli.md: argument parsing and its error text,
// shorthand and JSON parameters, --cli-input-json/yaml, skeletons, the five
// output formats byte for byte, JMESPath --query, pagination with CLI
// tokens, retries, exit codes (0/252/253/254/255) and the pager.
//
// Requests are raw awsJson1_1 POSTs signed with aws-sdk-go-v2's SigV4
// signer; responses are decoded against the botocore service model
// embedded from model/ssm.json, so output keys follow model order.
//
// One file per concern: args.go (option parsing), model.go (shapes),
// params.go and shorthand.go (parameter values), validate.go, config.go,
// client.go and rawheaders.go (HTTP, signing, retries, wire-order
// headers), response.go, paginate.go, query.go with pyjmespath.go and
// queryerr.go (Python-identical query errors), the format_*.go output
// formatters, output.go (format dispatch, pager), skeleton.go, start.go,
// prompt.go and main.go.
//
// Known differences from AWS CLI 2.9.19: man-page help and --debug logs
// are not reproduced; --cli-auto-prompt asks only for missing required
// parameters; file:///dev/stdin works for --cli-input-json (2.9.19 fails);
// AWS_ENDPOINT_URL and AWS_ENDPOINT_URL_SSM are honoured (2.9.19 predates
// them).
package ssmcli
