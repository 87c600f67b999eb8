package detector

// Rule is the metadata of the detection rule, as Elastic publishes it.
type Rule struct {
	ID           string    `json:"id"`
	Name         string    `json:"name"`
	Severity     string    `json:"severity"`
	RiskScore    int       `json:"risk_score"`
	Tactic       Technique `json:"tactic"`
	Technique    Technique `json:"technique"`
	Subtechnique Technique `json:"subtechnique"`
	Query        string    `json:"query"` // the upstream EQL, for reference
	Strict       bool      `json:"strict"`
}

// Technique is a MITRE ATT&CK identifier and its name.
type Technique struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

// RuleID is the Elastic rule_id of "Execution via TSClient Mountpoint".
const RuleID = "4fe9d835-40e1-452d-8230-17c147cafad8"

// ElasticQuery is the rule's EQL as upstream ships it; strict mode
// reproduces exactly this.
const ElasticQuery = `process where host.os.type == "windows" and event.type == "start" and process.executable : "\\Device\\Mup\\tsclient\\*.exe"`

// DefaultRule returns the rule metadata.
func DefaultRule() Rule {
	return Rule{
		ID:           RuleID,
		Name:         "Execution via TSClient Mountpoint",
		Severity:     "high",
		RiskScore:    73,
		Tactic:       Technique{ID: "TA0008", Name: "Lateral Movement"},
		Technique:    Technique{ID: "T1021", Name: "Remote Services"},
		Subtechnique: Technique{ID: "T1021.001", Name: "Remote Desktop Protocol"},
		Query:        ElasticQuery,
	}
}
