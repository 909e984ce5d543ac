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
// params.go and shorthand.go (parameter values), validate.go, client.go
// (HTTP, signing, retries), response.go, paginate.go, query.go, the
// format_*.go output formatters, skeleton.go, start.go and main.go.
package ssmcli
