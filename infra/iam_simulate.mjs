// The local stack's IAM policy evaluator (infra/iam_local.py starts it; never shipped).
//
// Reads one JSON request per line on stdin:
//   {"id": 1, "principal": "<role ARN>", "policies": [{"name", "policy"}], "action", "resource", "account",
//    "context": {"<condition key>": "<value>" | ["<value>", ...]}}
// and writes one JSON answer per line on stdout:
//   {"id": 1, "result": "Allowed" | "ImplicitlyDenied" | "ExplicitlyDenied" | ..., "allowed_by": ["<policy>/<Sid>"],
//    "errors": <validation errors or null>}
// with @cloud-copilot/iam-simulate (all condition operators, ? and * in ARNs, ForAllValues/ForAnyValue).
import { createInterface } from 'node:readline'
import { runSimulation } from '@cloud-copilot/iam-simulate'

const lines = createInterface({ input: process.stdin, crlfDelay: Infinity })
for await (const line of lines) {
  if (!line.trim()) continue
  let answer
  try {
    const ask = JSON.parse(line)
    const simulated = await runSimulation({
      identityPolicies: ask.policies,
      serviceControlPolicies: [],
      resourceControlPolicies: [],
      request: {
        principal: ask.principal,
        action: ask.action,
        resource: { resource: ask.resource, accountId: ask.account },
        contextVariables: ask.context || {}
      }
    }, {})
    const analysis = simulated.result?.analysis
    answer = {
      id: ask.id,
      result: analysis?.result ?? 'Error',
      allowed_by: (analysis?.identityAnalysis?.allowStatements || [])
        .map((s) => `${s.policyId}/${JSON.parse(JSON.stringify(s.statement)).Sid ?? '?'}`),
      errors: simulated.errors ?? null
    }
  } catch (error) {
    answer = { id: null, result: 'Error', allowed_by: [], errors: String(error) }
  }
  process.stdout.write(JSON.stringify(answer) + '\n')
}
