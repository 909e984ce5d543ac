package nodes

import "github.com/tether-ssm/tether/internal/awsjson"

// The request and response shapes of the node operations, as in the SSM
// model (docs/ssm-api-additions.md). Member names are AWS's.

// Tag is Tag.
type Tag struct {
	Key   string `json:"Key"`
	Value string `json:"Value"`
}

// CreateActivationInput is CreateActivationRequest.
type CreateActivationInput struct {
	Description          string        `json:"Description"`
	DefaultInstanceName  string        `json:"DefaultInstanceName"`
	IamRole              string        `json:"IamRole"`
	RegistrationLimit    *int          `json:"RegistrationLimit"`
	ExpirationDate       *awsjson.Time `json:"ExpirationDate"`
	Tags                 []Tag         `json:"Tags"`
	RegistrationMetadata []Tag         `json:"RegistrationMetadata"`
}

// CreateActivationOutput is CreateActivationResult.
type CreateActivationOutput struct {
	ActivationID   string `json:"ActivationId"`
	ActivationCode string `json:"ActivationCode"`
}

// DescribeActivationsInput is DescribeActivationsRequest.
type DescribeActivationsInput struct {
	Filters    []ActivationFilter `json:"Filters"`
	MaxResults *int               `json:"MaxResults"`
	NextToken  string             `json:"NextToken"`
}

// ActivationFilter is DescribeActivationsFilter.
type ActivationFilter struct {
	FilterKey    string   `json:"FilterKey"`
	FilterValues []string `json:"FilterValues"`
}

// DescribeActivationsOutput is DescribeActivationsResult.
type DescribeActivationsOutput struct {
	ActivationList []Activation `json:"ActivationList"`
	NextToken      string       `json:"NextToken,omitempty"`
}

// Activation is Activation, members in model order.
type Activation struct {
	ActivationID        string        `json:"ActivationId"`
	Description         string        `json:"Description,omitempty"`
	DefaultInstanceName string        `json:"DefaultInstanceName,omitempty"`
	IamRole             string        `json:"IamRole"`
	RegistrationLimit   int           `json:"RegistrationLimit"`
	RegistrationsCount  int           `json:"RegistrationsCount"`
	ExpirationDate      *awsjson.Time `json:"ExpirationDate,omitempty"`
	Expired             bool          `json:"Expired"`
	CreatedDate         *awsjson.Time `json:"CreatedDate,omitempty"`
	Tags                []Tag         `json:"Tags,omitempty"`
}

// DeleteActivationInput is DeleteActivationRequest.
type DeleteActivationInput struct {
	ActivationID string `json:"ActivationId"`
}

// DeleteActivationOutput is DeleteActivationResult (no members).
type DeleteActivationOutput struct{}

// DescribeInstanceInformationInput is DescribeInstanceInformationRequest.
type DescribeInstanceInformationInput struct {
	InstanceInformationFilterList []InstanceFilter       `json:"InstanceInformationFilterList"`
	Filters                       []InstanceStringFilter `json:"Filters"`
	MaxResults                    *int                   `json:"MaxResults"`
	NextToken                     string                 `json:"NextToken"`
}

// InstanceFilter is InstanceInformationFilter (lower-case member names).
type InstanceFilter struct {
	Key      string   `json:"key"`
	ValueSet []string `json:"valueSet"`
}

// InstanceStringFilter is InstanceInformationStringFilter.
type InstanceStringFilter struct {
	Key    string   `json:"Key"`
	Values []string `json:"Values"`
}

// DescribeInstanceInformationOutput is DescribeInstanceInformationResult.
type DescribeInstanceInformationOutput struct {
	InstanceInformationList []InstanceInformation `json:"InstanceInformationList"`
	NextToken               string                `json:"NextToken,omitempty"`
}

// InstanceInformation is InstanceInformation, the members Tether knows, in
// model order.
type InstanceInformation struct {
	InstanceID       string        `json:"InstanceId"`
	PingStatus       string        `json:"PingStatus"`
	LastPingDateTime *awsjson.Time `json:"LastPingDateTime,omitempty"`
	AgentVersion     string        `json:"AgentVersion,omitempty"`
	IsLatestVersion  bool          `json:"IsLatestVersion"`
	PlatformType     string        `json:"PlatformType,omitempty"`
	PlatformName     string        `json:"PlatformName,omitempty"`
	PlatformVersion  string        `json:"PlatformVersion,omitempty"`
	ActivationID     string        `json:"ActivationId,omitempty"`
	IamRole          string        `json:"IamRole,omitempty"`
	RegistrationDate *awsjson.Time `json:"RegistrationDate,omitempty"`
	ResourceType     string        `json:"ResourceType"`
	Name             string        `json:"Name,omitempty"`
	IPAddress        string        `json:"IPAddress,omitempty"`
	ComputerName     string        `json:"ComputerName,omitempty"`
}

// GetConnectionStatusInput is GetConnectionStatusRequest.
type GetConnectionStatusInput struct {
	Target string `json:"Target"`
}

// GetConnectionStatusOutput is GetConnectionStatusResponse.
type GetConnectionStatusOutput struct {
	Target string `json:"Target"`
	Status string `json:"Status"`
}
