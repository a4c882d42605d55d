// Package interflow defines Trawl's normalized record: the fields every
// decoder fills and every search names. The schema here is the single source
// of truth for the lake's columns, the search language's field names and
// docs/interflow.md (a test keeps the document in step).
package interflow

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"time"
)

// Type is a field's value type.
type Type int

// Field value types. IP fields are strings that the lake also indexes as a
// sortable key so CIDR searches become range scans.
const (
	String Type = iota
	Int
	Bool
	Time
	IP
	Strings // a list of strings ([]string)
	// Float is a double-precision number: AWS's doubles (a GuardDuty
	// finding's severity, 0.1 to 10.0) that an integer would cut.
	Float
)

func (t Type) String() string {
	return [...]string{"string", "int", "bool", "timestamp", "ip", "list of strings", "double"}[t]
}

// Field describes one Interflow field.
type Field struct {
	Name   string
	Type   Type
	Source string // where the value comes from, for the documentation
}

// Index names.
const (
	IndexEvents  = "aws_events"
	IndexTraffic = "traffic"
)

// Fields shared by both indices occupy the same positions in each schema.
const (
	FID = iota
	FTimestamp
	FTenant
	FConnector
	FIndex
	FMsgClass
	FOriginSource
	FOriginVendor
	FOriginCategory
	FAccountID
	FRegion
	FSrcIP
	FAction
	FBucket
	FKey
	FPosition
	FRaw
	numCommon
)

// aws_events fields (CloudTrail, WAF, Route 53 Resolver, ALB, S3 server
// access, GuardDuty).
const (
	EEventName = numCommon + iota
	EEventSource
	EEventType
	EEventID
	EEventCategory
	EEventVersion
	EUserType
	EUserName
	EUserARN
	EUserAccountID
	EUserAccessKeyID
	EUserAgent
	EErrorCode
	EErrorMessage
	EReadOnly
	ESrcHost
	ERequestID
	EMgmtEvent
	ESessionMFA
	EHTTPCountry
	EHTTPMethod
	EHTTPURI
	EHTTPArgs
	EHTTPHost
	EHTTPVersion
	EWebACL
	ERuleID
	ERuleType
	EHTTPSource
	EHTTPSourceID
	ELabels
	EJA3
	EJA4
	EResponseCode
	// Fields added after the first release go at the end: a field's
	// position is its Iceberg field id, which never changes.
	ESrcPort
	EVPCID
	EInstanceID
	EDNSQuestionName
	EDNSQuestionType
	EDNSQuestionClass
	EDNSResponseCode
	EDNSAnswers
	EDNSFirewallAction
	EDNSFirewallRuleGroup
	EDstIP
	EDstPort
	EBytesIn
	EBytesOut
	EHTTPTargetStatus
	ETLSProtocol
	ETLSCipher
	EELBName
	EELBType
	EELBTargetGroupARN
	EELBTraceID
	EELBClassification
	EELBErrorReason
	EELBActions
	ES3BucketOwner
	ES3Bucket
	ES3Requester
	ES3Operation
	ES3Key
	ES3ObjectSize
	ES3TotalTime
	ES3TurnAroundTime
	EHTTPReferer
	ES3VersionID
	ES3HostID
	ES3SignatureVersion
	ES3AuthType
	ES3AccessPointARN
	ES3ACLRequired
	EFindingID
	EFindingType
	EFindingSeverity
	EFindingSeverityLabel
	EFindingTitle
	EFindingDescription
	ECloudPartition
	EFindingCreatedAt
	EFindingFirstSeen
	EFindingLastSeen
	EFindingCount
	EFindingArchived
	EFindingSample
	EFindingResourceRole
	EFindingActionType
	EFindingDirection
	EFindingProtocol
	EFindingBlocked
	EFindingRemoteIP
	EFindingRemotePort
	EFindingRemoteCountry
	EFindingRemoteOrg
	EFindingLocalIP
	EFindingLocalPort
	EResourceType
	EResourceS3Buckets
	EResourceEKSCluster
	numEvents
)

// traffic fields (VPC flow logs).
const (
	TDstIP = numCommon + iota
	TSrcPort
	TDstPort
	TProtocol
	TProtoName
	TBytes
	TPackets
	TLogStatus
	TInterfaceID
	TVPCID
	TSubnetID
	TInstanceID
	TTCPFlags
	TType
	TFlowDirection
	TTrafficPath
	TPktSrcAddr
	TPktDstAddr
	TPktSrcService
	TPktDstService
	TStart
	TEnd
	TVersion
	TAZID
	TSublocationType
	TSublocationID
	TECSClusterARN
	TECSClusterName
	TECSContainerInstanceARN
	TECSContainerInstanceID
	TECSContainerID
	TECSSecondContainerID
	TECSServiceName
	TECSTaskDefinitionARN
	TECSTaskARN
	TECSTaskID
	TRejectReason
	TTGWID
	TTGWAttachmentID
	TTGWSrcVPCAccountID
	TTGWDstVPCAccountID
	TTGWSrcVPCID
	TTGWDstVPCID
	TTGWSrcSubnetID
	TTGWDstSubnetID
	TTGWSrcENI
	TTGWDstENI
	TTGWSrcAZID
	TTGWDstAZID
	TTGWPairAttachmentID
	TPacketsLostNoRoute
	TPacketsLostBlackhole
	TPacketsLostMTUExceeded
	TPacketsLostTTLExpired
	TTCPFlagsName
	TResourceType
	numTraffic
)

func common() []Field {
	f := make([]Field, numCommon)
	f[FID] = Field{"id", String, "deterministic hash of bucket, key, ETag (or size and time when the store gives none) and position"}
	f[FTimestamp] = Field{"timestamp", Time, "event time: CloudTrail eventTime, WAF timestamp, VPC flow start, Route 53 Resolver query_timestamp, ALB time (when the load balancer answered; a WebSocket connection's close), S3 server access Time (when the request was received), GuardDuty updatedAt (when this version of the finding was written: each export of a finding is its own record)"}
	f[FTenant] = Field{"tenant", String, "connector tenant"}
	f[FConnector] = Field{"connector", String, "connector name"}
	f[FIndex] = Field{"index", String, "aws_events or traffic"}
	f[FMsgClass] = Field{"msg_class", String, "cloudtrail, aws_waf, vpcflow, route53_resolver, alb, s3access or guardduty"}
	f[FOriginSource] = Field{"msg_origin.source", String, "always cloudtrail (the connector type)"}
	f[FOriginVendor] = Field{"msg_origin.vendor", String, "always aws"}
	f[FOriginCategory] = Field{"msg_origin.category", String, "paas, or waf for WAF logs"}
	f[FAccountID] = Field{"cloud.account_id", String, "CloudTrail recipientAccountId; VPC flow account-id; Route 53 Resolver account_id; WAF, ALB: account in the object key; S3 server access: the source account in a date-partitioned key; GuardDuty accountId (the account the finding is about)"}
	f[FRegion] = Field{"cloud.region", String, "CloudTrail awsRegion; VPC flow region; Route 53 Resolver region; WAF, ALB: region in the object key; S3 server access: the source region in a date-partitioned key, else the Host Header's regional endpoint; GuardDuty region"}
	f[FSrcIP] = Field{"srcip", IP, "CloudTrail sourceIPAddress when it is an IP; WAF httpRequest.clientIp; VPC flow srcaddr; Route 53 Resolver srcaddr; ALB client:port's address; S3 server access Remote IP; GuardDuty: the remote address of an API call, Kubernetes API call, RDS login or port probe, the remote address of an INBOUND connection and the local one of an OUTBOUND connection (none for UNKNOWN)"}
	f[FAction] = Field{"action", String, "WAF action (ALLOW, BLOCK, COUNT, CAPTCHA, CHALLENGE); VPC flow action (ACCEPT, REJECT); Route 53 Resolver DNS Firewall firewall_rule_action (BLOCK, ALERT, ALLOW)"}
	f[FBucket] = Field{"origin.bucket", String, "S3 bucket the record was read from"}
	f[FKey] = Field{"origin.key", String, "S3 object key the record was read from"}
	f[FPosition] = Field{"origin.position", Int, "0-based record number within the object"}
	f[FRaw] = Field{"raw", String, "the original record (JSON, or the flow log, ALB or S3 server access log line, with any fields AWS appended after the ones Trawl maps); a GuardDuty finding whole, as its line"}
	return f
}

// Schema is the ordered field list of one index.
type Schema struct {
	Index  string
	Fields []Field
	byName map[string]int
}

func newSchema(index string, fields []Field) *Schema {
	s := &Schema{Index: index, Fields: fields, byName: make(map[string]int, len(fields))}
	for i, f := range fields {
		s.byName[f.Name] = i
	}
	return s
}

// Lookup returns the position of a field by name.
func (s *Schema) Lookup(name string) (int, bool) {
	i, ok := s.byName[name]
	return i, ok
}

// Events is the aws_events schema.
func Events() *Schema { return eventsSchema }

// Traffic is the traffic schema.
func Traffic() *Schema { return trafficSchema }

// Schemas returns both schemas.
func Schemas() []*Schema { return []*Schema{eventsSchema, trafficSchema} }

// SchemaFor returns the schema of an index name, or nil.
func SchemaFor(index string) *Schema {
	switch index {
	case IndexEvents:
		return eventsSchema
	case IndexTraffic:
		return trafficSchema
	}
	return nil
}

// The schemas are built once and never modified.
var (
	eventsSchema  = newSchema(IndexEvents, eventFields())
	trafficSchema = newSchema(IndexTraffic, trafficFields())
)

func eventFields() []Field {
	f := append(common(), make([]Field, numEvents-numCommon)...)
	f[EEventName] = Field{"event_name", String, "CloudTrail eventName (insight events: insightDetails.eventName); GuardDuty service.action.awsApiCallAction.api"}
	f[EEventSource] = Field{"event_source", String, "CloudTrail eventSource (insight events: insightDetails.eventSource); GuardDuty service.action.awsApiCallAction.serviceName"}
	f[EEventType] = Field{"event_type", String, "CloudTrail eventType, e.g. AwsApiCall, AwsConsoleSignIn, AwsCloudTrailInsight"}
	f[EEventID] = Field{"event_id", String, "CloudTrail eventID (absent in eventVersion 1.0)"}
	f[EEventCategory] = Field{"event_category", String, "CloudTrail eventCategory: Management, Data, Insight, NetworkActivity"}
	f[EEventVersion] = Field{"event_version", String, "CloudTrail eventVersion; Route 53 Resolver version; GuardDuty schemaVersion"}
	f[EUserType] = Field{"user.type", String, "CloudTrail userIdentity.type; GuardDuty resource.accessKeyDetails.userType"}
	f[EUserName] = Field{"user.name", String, "CloudTrail userIdentity.userName, else sessionContext.sessionIssuer.userName, else the last part of the ARN, else invokedBy; GuardDuty resource.accessKeyDetails.userName, else resource.kubernetesDetails.kubernetesUserDetails.username"}
	f[EUserARN] = Field{"user.arn", String, "CloudTrail userIdentity.arn; S3 server access Requester when it is an IAM ARN"}
	f[EUserAccountID] = Field{"user.account_id", String, "CloudTrail userIdentity.accountId"}
	f[EUserAccessKeyID] = Field{"user.access_key_id", String, "CloudTrail userIdentity.accessKeyId; GuardDuty resource.accessKeyDetails.accessKeyId"}
	f[EUserAgent] = Field{"user_agent", String, "CloudTrail userAgent; WAF User-Agent header; ALB user_agent; S3 server access User-Agent; GuardDuty userAgent of the API call or Kubernetes API call"}
	f[EErrorCode] = Field{"error_code", String, "CloudTrail errorCode; S3 server access Error Code, e.g. AccessDenied, NoSuchKey; GuardDuty service.action.awsApiCallAction.errorCode"}
	f[EErrorMessage] = Field{"error_message", String, "CloudTrail errorMessage"}
	f[EReadOnly] = Field{"read_only", Bool, "CloudTrail readOnly (true or false; a string value is converted)"}
	f[ESrcHost] = Field{"src_host", String, "CloudTrail sourceIPAddress when it is a service name such as ec2.amazonaws.com"}
	f[ERequestID] = Field{"request_id", String, "CloudTrail requestID; WAF httpRequest.requestId; S3 server access Request ID"}
	f[EMgmtEvent] = Field{"management_event", Bool, "CloudTrail managementEvent"}
	f[ESessionMFA] = Field{"session_mfa", Bool, "CloudTrail userIdentity.sessionContext.attributes.mfaAuthenticated"}
	f[EHTTPCountry] = Field{"http.country", String, "WAF httpRequest.country"}
	f[EHTTPMethod] = Field{"http.method", String, "WAF httpRequest.httpMethod; ALB request's method; S3 server access Request-URI's method"}
	f[EHTTPURI] = Field{"http.uri", String, "WAF httpRequest.uri; ALB request URL's path and query; S3 server access Request-URI's path and query; GuardDuty Kubernetes API call's requestUri"}
	f[EHTTPArgs] = Field{"http.args", String, "WAF httpRequest.args"}
	f[EHTTPHost] = Field{"http.host", String, "WAF Host header (name matched case-insensitively); ALB domain_name (the client's TLS SNI), else the request URL's host; S3 server access Host Header (the endpoint)"}
	f[EHTTPVersion] = Field{"http.version", String, "WAF httpRequest.httpVersion; ALB request's version, e.g. HTTP/1.1; S3 server access Request-URI's version"}
	f[EWebACL] = Field{"web_acl", String, "WAF webaclId"}
	f[ERuleID] = Field{"rule_id", String, "WAF terminatingRuleId"}
	f[ERuleType] = Field{"rule_type", String, "WAF terminatingRuleType"}
	f[EHTTPSource] = Field{"http_source", String, "WAF httpSourceName (ALB, CF, APIGW, APPSYNC, ...)"}
	f[EHTTPSourceID] = Field{"http_source_id", String, "WAF httpSourceId"}
	f[ELabels] = Field{"labels", Strings, "WAF labels[].name; labels:X matches a record carrying label X"}
	f[EJA3] = Field{"ja3", String, "WAF ja3Fingerprint"}
	f[EJA4] = Field{"ja4", String, "WAF ja4Fingerprint"}
	f[EResponseCode] = Field{"http.response_code", Int, "WAF responseCodeSent; ALB elb_status_code; S3 server access HTTP status; GuardDuty Kubernetes API call's statusCode"}
	f[ESrcPort] = Field{"srcport", Int, "Route 53 Resolver srcport; ALB client:port's port; GuardDuty connection's remote port (INBOUND) or local port (OUTBOUND)"}
	f[EVPCID] = Field{"vpc_id", String, "Route 53 Resolver vpc_id; GuardDuty the instance's first network interface's vpcId, else the EKS cluster's vpcId"}
	f[EInstanceID] = Field{"instance_id", String, "Route 53 Resolver srcids.instance; GuardDuty resource.instanceDetails.instanceId"}
	f[EDNSQuestionName] = Field{"dns.question.name", String, "Route 53 Resolver query_name (as logged, with its final dot); GuardDuty service.action.dnsRequestAction.domain"}
	f[EDNSQuestionType] = Field{"dns.question.type", String, "Route 53 Resolver query_type, e.g. A, AAAA, TXT"}
	f[EDNSQuestionClass] = Field{"dns.question.class", String, "Route 53 Resolver query_class, e.g. IN"}
	f[EDNSResponseCode] = Field{"dns.response_code", String, "Route 53 Resolver rcode, e.g. NOERROR, NXDOMAIN, SERVFAIL"}
	f[EDNSAnswers] = Field{"dns.answers", Strings, "Route 53 Resolver answers[].Rdata"}
	f[EDNSFirewallAction] = Field{"dns.firewall_action", String, "Route 53 Resolver DNS Firewall firewall_rule_action (ALERT, BLOCK, ALLOW)"}
	f[EDNSFirewallRuleGroup] = Field{"dns.firewall_rule_group", String, "Route 53 Resolver DNS Firewall firewall_rule_group_id"}
	f[EDstIP] = Field{"dstip", IP, "ALB target:port's address (absent when no target took the request: a Lambda function, a request AWS WAF blocked, an incomplete request); GuardDuty: a port probe's or INBOUND connection's local address, an OUTBOUND connection's remote one"}
	f[EDstPort] = Field{"dstport", Int, "ALB target:port's port; GuardDuty: a port probe's or INBOUND connection's local port, an OUTBOUND connection's remote port"}
	f[EBytesIn] = Field{"bytes_in", Int, "ALB received_bytes (request size with headers; a WebSocket connection's bytes from the client)"}
	f[EBytesOut] = Field{"bytes_out", Int, "ALB sent_bytes (response size with headers; a WebSocket connection's bytes to the client); S3 server access Bytes Sent (without HTTP overhead; - is 0)"}
	f[EHTTPTargetStatus] = Field{"http.target_status", String, "ALB target_status_code (absent when no target answered)"}
	f[ETLSProtocol] = Field{"tls.protocol", String, "ALB ssl_protocol, e.g. TLSv1.2 (HTTPS listeners); S3 server access TLS version, as logged (TLSv1.2; AWS's examples write TLSV1.2)"}
	f[ETLSCipher] = Field{"tls.cipher", String, "ALB ssl_cipher, e.g. ECDHE-RSA-AES128-GCM-SHA256 (HTTPS listeners); S3 server access Cipher Suite"}
	f[EELBName] = Field{"elb.name", String, "ALB elb: the load balancer's resource ID as logged, app/<name>/<id>"}
	f[EELBType] = Field{"elb.type", String, "ALB type: http, https, h2, grpcs, ws or wss"}
	f[EELBTargetGroupARN] = Field{"elb.target_group_arn", String, "ALB target_group_arn"}
	f[EELBTraceID] = Field{"elb.trace_id", String, "ALB trace_id (the X-Amzn-Trace-Id header)"}
	f[EELBClassification] = Field{"elb.classification", String, "ALB classification for desync mitigation: Acceptable, Ambiguous or Severe (absent for requests that comply with RFC 7230)"}
	f[EELBErrorReason] = Field{"elb.error_reason", String, "ALB error_reason, e.g. LambdaInvalidResponse"}
	f[EELBActions] = Field{"elb.actions", Strings, "ALB actions_executed, e.g. waf, authenticate, forward, redirect, fixed-response"}
	f[ES3BucketOwner] = Field{"s3.bucket_owner", String, "S3 server access Bucket Owner: the canonical user ID of the bucket's owner"}
	f[ES3Bucket] = Field{"s3.bucket", String, "S3 server access Bucket: the bucket the request was made to (origin.bucket is where the log was read)"}
	f[ES3Requester] = Field{"s3.requester", String, "S3 server access Requester: a canonical user ID or an IAM ARN (absent for an unauthenticated request, logged as -)"}
	f[ES3Operation] = Field{"s3.operation", String, "S3 server access Operation, e.g. REST.GET.OBJECT, REST.PUT.OBJECT, WEBSITE.GET.OBJECT, BATCH.DELETE.OBJECT, S3.EXPIRE.OBJECT"}
	f[ES3Key] = Field{"s3.key", String, "S3 server access Key: the object key of the request, URL-encoded as logged"}
	f[ES3ObjectSize] = Field{"s3.object_size", Int, "S3 server access Object Size, in bytes"}
	f[ES3TotalTime] = Field{"s3.total_time_ms", Int, "S3 server access Total Time: milliseconds the request was in flight, from the server's view"}
	f[ES3TurnAroundTime] = Field{"s3.turnaround_time_ms", Int, "S3 server access Turn-Around Time: milliseconds S3 spent processing the request"}
	f[EHTTPReferer] = Field{"http.referer", String, "S3 server access Referer (the HTTP Referer header)"}
	f[ES3VersionID] = Field{"s3.version_id", String, "S3 server access Version Id of the request"}
	f[ES3HostID] = Field{"s3.host_id", String, "S3 server access Host Id: the x-amz-id-2 extended request ID"}
	f[ES3SignatureVersion] = Field{"s3.signature_version", String, "S3 server access Signature Version: SigV2 or SigV4 (absent for an unauthenticated request)"}
	f[ES3AuthType] = Field{"s3.auth_type", String, "S3 server access Authentication Type: AuthHeader, QueryString (a presigned URL) (absent for an unauthenticated request)"}
	f[ES3AccessPointARN] = Field{"s3.access_point_arn", String, "S3 server access Access Point ARN of the request"}
	f[ES3ACLRequired] = Field{"s3.acl_required", Bool, "S3 server access aclRequired: true when an ACL was needed to authorize the request (Yes), false when logged as - (absent in logs written before the field)"}
	guardDutyFields(f)
	return f
}

// guardDutyFields are the fields of GuardDuty findings (AWS's names are
// the finding's JSON paths, in the API's camelCase as exports write them).
func guardDutyFields(f []Field) {
	f[EFindingID] = Field{"finding.id", String, "GuardDuty id: the finding's ID, the same in every export of the finding (its latest version is the record with the greatest timestamp)"}
	f[EFindingType] = Field{"finding.type", String, "GuardDuty type, ThreatPurpose:ResourceTypeAffected/ThreatFamilyName.DetectionMechanism!Artifact, e.g. Recon:EC2/PortProbeUnprotectedPort"}
	f[EFindingSeverity] = Field{"finding.severity", Float, "GuardDuty severity, a number from 1.0 to 10.0 (0.1 to 8.9 in findings before Critical existed); search it with a range, finding.severity:>=7"}
	f[EFindingSeverityLabel] = Field{"finding.severity_label", String, "GuardDuty's level of the severity: Low (below 4.0), Medium (4.0-6.9), High (7.0-8.9) or Critical (9.0-10.0)"}
	f[EFindingTitle] = Field{"finding.title", String, "GuardDuty title"}
	f[EFindingDescription] = Field{"finding.description", String, "GuardDuty description"}
	f[ECloudPartition] = Field{"cloud.partition", String, "GuardDuty partition: aws, aws-cn or aws-us-gov"}
	f[EFindingCreatedAt] = Field{"finding.created_at", Time, "GuardDuty createdAt: when the finding was first created (the same in every export of it)"}
	f[EFindingFirstSeen] = Field{"finding.first_seen", Time, "GuardDuty service.eventFirstSeen: the first activity the finding aggregates"}
	f[EFindingLastSeen] = Field{"finding.last_seen", Time, "GuardDuty service.eventLastSeen: the last activity the finding aggregates"}
	f[EFindingCount] = Field{"finding.count", Int, "GuardDuty service.count: occurrences aggregated into the finding so far"}
	f[EFindingArchived] = Field{"finding.archived", Bool, "GuardDuty service.archived"}
	f[EFindingSample] = Field{"finding.sample", Bool, "GuardDuty service.additionalInfo.sample: true for the sample findings GuardDuty generates on request"}
	f[EFindingResourceRole] = Field{"finding.resource_role", String, "GuardDuty service.resourceRole: TARGET (the resource was acted on) or ACTOR (it acted)"}
	f[EFindingActionType] = Field{"finding.action_type", String, "GuardDuty service.action.actionType: AWS_API_CALL, NETWORK_CONNECTION, PORT_PROBE, DNS_REQUEST, KUBERNETES_API_CALL, RDS_LOGIN_ATTEMPT, ..."}
	f[EFindingDirection] = Field{"finding.connection_direction", String, "GuardDuty networkConnectionAction.connectionDirection: INBOUND, OUTBOUND or UNKNOWN"}
	f[EFindingProtocol] = Field{"finding.protocol", String, "GuardDuty protocol of the network connection or DNS request, e.g. TCP, UDP"}
	f[EFindingBlocked] = Field{"finding.blocked", Bool, "GuardDuty blocked of the network connection, port probe or DNS request"}
	f[EFindingRemoteIP] = Field{"finding.remote_ip", IP, "GuardDuty remoteIpDetails.ipAddressV4 (else ipAddressV6) of the action (a port probe: its first probe's)"}
	f[EFindingRemotePort] = Field{"finding.remote_port", Int, "GuardDuty networkConnectionAction.remotePortDetails.port"}
	f[EFindingRemoteCountry] = Field{"finding.remote_country", String, "GuardDuty remoteIpDetails.country.countryName"}
	f[EFindingRemoteOrg] = Field{"finding.remote_org", String, "GuardDuty remoteIpDetails.organization.org"}
	f[EFindingLocalIP] = Field{"finding.local_ip", IP, "GuardDuty localIpDetails.ipAddressV4 (else ipAddressV6) of the connection or first port probe"}
	f[EFindingLocalPort] = Field{"finding.local_port", Int, "GuardDuty localPortDetails.port of the connection or first port probe"}
	f[EResourceType] = Field{"resource.type", String, "GuardDuty resource.resourceType, e.g. Instance, AccessKey, S3Bucket, EKSCluster, ECSCluster, Container, Lambda, RDSDBInstance"}
	f[EResourceS3Buckets] = Field{"resource.s3_buckets", Strings, "GuardDuty resource.s3BucketDetails[].name"}
	f[EResourceEKSCluster] = Field{"resource.eks_cluster", String, "GuardDuty resource.eksClusterDetails.name"}
}

func trafficFields() []Field {
	f := append(common(), make([]Field, numTraffic-numCommon)...)
	f[TDstIP] = Field{"dstip", IP, "dstaddr"}
	f[TSrcPort] = Field{"srcport", Int, "srcport"}
	f[TDstPort] = Field{"dstport", Int, "dstport"}
	f[TProtocol] = Field{"protocol", Int, "protocol (IANA number)"}
	f[TProtoName] = Field{"proto_name", String, "protocol name from the IANA number: tcp, udp, icmp, ..."}
	f[TBytes] = Field{"bytes", Int, "bytes"}
	f[TPackets] = Field{"packets", Int, "packets"}
	f[TLogStatus] = Field{"log_status", String, "log-status: OK, NODATA, SKIPDATA"}
	f[TInterfaceID] = Field{"interface_id", String, "interface-id"}
	f[TVPCID] = Field{"vpc_id", String, "vpc-id"}
	f[TSubnetID] = Field{"subnet_id", String, "subnet-id"}
	f[TInstanceID] = Field{"instance_id", String, "instance-id"}
	f[TTCPFlags] = Field{"tcp_flags", Int, "tcp-flags (bitmask)"}
	f[TType] = Field{"ip_type", String, "type: IPv4, IPv6, EFA"}
	f[TFlowDirection] = Field{"flow_direction", String, "flow-direction: ingress, egress"}
	f[TTrafficPath] = Field{"traffic_path", Int, "traffic-path"}
	f[TPktSrcAddr] = Field{"pkt_srcaddr", IP, "pkt-srcaddr"}
	f[TPktDstAddr] = Field{"pkt_dstaddr", IP, "pkt-dstaddr"}
	f[TPktSrcService] = Field{"pkt_src_aws_service", String, "pkt-src-aws-service"}
	f[TPktDstService] = Field{"pkt_dst_aws_service", String, "pkt-dst-aws-service"}
	f[TStart] = Field{"start", Time, "start (epoch seconds)"}
	f[TEnd] = Field{"end", Time, "end (epoch seconds)"}
	f[TVersion] = Field{"version", Int, "version"}
	f[TAZID] = Field{"az_id", String, "az-id"}
	f[TSublocationType] = Field{"sublocation_type", String, "sublocation-type"}
	f[TSublocationID] = Field{"sublocation_id", String, "sublocation-id"}
	f[TECSClusterARN] = Field{"ecs_cluster_arn", String, "ecs-cluster-arn"}
	f[TECSClusterName] = Field{"ecs_cluster_name", String, "ecs-cluster-name"}
	f[TECSContainerInstanceARN] = Field{"ecs_container_instance_arn", String, "ecs-container-instance-arn"}
	f[TECSContainerInstanceID] = Field{"ecs_container_instance_id", String, "ecs-container-instance-id"}
	f[TECSContainerID] = Field{"ecs_container_id", String, "ecs-container-id"}
	f[TECSSecondContainerID] = Field{"ecs_second_container_id", String, "ecs-second-container-id"}
	f[TECSServiceName] = Field{"ecs_service_name", String, "ecs-service-name"}
	f[TECSTaskDefinitionARN] = Field{"ecs_task_definition_arn", String, "ecs-task-definition-arn"}
	f[TECSTaskARN] = Field{"ecs_task_arn", String, "ecs-task-arn"}
	f[TECSTaskID] = Field{"ecs_task_id", String, "ecs-task-id"}
	f[TRejectReason] = Field{"reject_reason", String, "reject-reason"}
	f[TTGWID] = Field{"tgw_id", String, "transit gateway: tgw-id"}
	f[TTGWAttachmentID] = Field{"tgw_attachment_id", String, "tgw-attachment-id"}
	f[TTGWSrcVPCAccountID] = Field{"tgw_src_vpc_account_id", String, "tgw-src-vpc-account-id"}
	f[TTGWDstVPCAccountID] = Field{"tgw_dst_vpc_account_id", String, "tgw-dst-vpc-account-id"}
	f[TTGWSrcVPCID] = Field{"tgw_src_vpc_id", String, "tgw-src-vpc-id"}
	f[TTGWDstVPCID] = Field{"tgw_dst_vpc_id", String, "tgw-dst-vpc-id"}
	f[TTGWSrcSubnetID] = Field{"tgw_src_subnet_id", String, "tgw-src-subnet-id"}
	f[TTGWDstSubnetID] = Field{"tgw_dst_subnet_id", String, "tgw-dst-subnet-id"}
	f[TTGWSrcENI] = Field{"tgw_src_eni", String, "tgw-src-eni"}
	f[TTGWDstENI] = Field{"tgw_dst_eni", String, "tgw-dst-eni"}
	f[TTGWSrcAZID] = Field{"tgw_src_az_id", String, "tgw-src-az-id"}
	f[TTGWDstAZID] = Field{"tgw_dst_az_id", String, "tgw-dst-az-id"}
	f[TTGWPairAttachmentID] = Field{"tgw_pair_attachment_id", String, "tgw-pair-attachment-id"}
	f[TPacketsLostNoRoute] = Field{"packets_lost_no_route", Int, "packets-lost-no-route"}
	f[TPacketsLostBlackhole] = Field{"packets_lost_blackhole", Int, "packets-lost-blackhole"}
	f[TPacketsLostMTUExceeded] = Field{"packets_lost_mtu_exceeded", Int, "packets-lost-mtu-exceeded"}
	f[TPacketsLostTTLExpired] = Field{"packets_lost_ttl_expired", Int, "packets-lost-ttl-expired"}
	f[TTCPFlagsName] = Field{"tcp_flags_name", String, "tcp-flags as names: SYN, ACK, FIN, RST, ..."}
	f[TResourceType] = Field{"resource_type", String, "resource-type"}
	return f
}

// Provenance identifies where a record came from.
type Provenance struct {
	Tenant, Connector, Bucket, Key, ETag string
	Size                                 int64
	LastModified                         time.Time
}

// ObjectVersion identifies the object's content: its ETag, or its size and
// modification time when the store gives no ETag.
func (p Provenance) ObjectVersion() string {
	if p.ETag != "" {
		return p.ETag
	}
	return strconv.FormatInt(p.Size, 10) + "@" + p.LastModified.UTC().Format(time.RFC3339Nano)
}

// ID derives the deterministic record ID from its provenance and position, so
// re-reading the same object yields the same IDs (never from eventID alone:
// eventIDs are missing in old records and are not unique across accounts).
func ID(p Provenance, pos int64) string {
	ids := NewIDs(p)
	return ids.ID(pos)
}

// IDs derives the IDs of one object's records (ID's values): 20 hex digits
// of SHA-256 over the object (bucket, key, version), hashed once per
// object, then the record's position in 12 hex digits. An ID used to be a
// hash per record; at 100-byte VPC flow lines that hash was 7% of ingest,
// and its random digits were the one column zstd could not shrink, where
// an object's IDs now share their first 20 digits and count up. 80 bits
// keep objects apart (a collision among a billion objects is a chance in
// two million), and 48 bits of position outnumber the records any object
// can hold.
type IDs struct{ id [32]byte }

// NewIDs returns the ID maker of an object.
func NewIDs(p Provenance) IDs {
	h := sha256.New()
	for _, s := range []string{p.Bucket, p.Key, p.ObjectVersion()} {
		h.Write([]byte(s))
		h.Write([]byte{0})
	}
	var x IDs
	hex.Encode(x.id[:20], h.Sum(nil)[:10])
	return x
}

// ID is the ID of the record at pos.
func (x *IDs) ID(pos int64) string {
	const digits = "0123456789abcdef"
	id := x.id
	for i := len(id) - 1; i >= 20; i-- {
		id[i] = digits[pos&15]
		pos >>= 4
	}
	return string(id[:])
}

// Known reports whether any index has a field of that name.
func Known(name string) bool {
	for _, s := range Schemas() {
		if _, ok := s.Lookup(name); ok {
			return true
		}
	}
	return false
}

// FieldID is the stable identifier of field i in the lake's table format
// (Apache Iceberg) and in the field_id of the segments' Parquet columns:
// engines map columns by it, not by name or position. It is the field's
// position plus one, so fields are only ever appended to a schema (a test
// of internal/iceberg pins every index's identifiers).
func (s *Schema) FieldID(i int) int { return i + 1 }

// ElementID is the identifier of the element of a list field i (Iceberg
// gives a list's element its own field id), clear of every FieldID.
func (s *Schema) ElementID(i int) int { return 1001 + i }
