/**
 * Policy entries of another trust domain than the sidecar's. The sidecar
 * refuses a peer of another trust domain before it asks the policy (the
 * trust domain is checked with the certificate), so such an entry can never
 * match: it is a typo or a copy from another mesh. The policy stays valid;
 * check-policy (--trust-domain) and check-config warn, naming each entry and
 * its line.
 */
import { isMap, isScalar, isSeq, LineCounter, parseDocument } from "yaml";
import type { ConfigIssue } from "../../lib/config/errors.js";
import type { TrustDomain } from "../../lib/spiffe/id.js";
import { IdPattern } from "../../lib/spiffe/pattern.js";

/** Finds the entries of `text` (a policy that loadPolicy accepted) outside `trustDomain`, as warnings located in `text`. */
export function foreignEntries(text: string, trustDomain: TrustDomain): ConfigIssue[] {
  const lines = new LineCounter();
  const doc = parseDocument(text, { lineCounter: lines });
  const listeners = doc.get("listeners", true);
  if (!isMap(listeners)) return [];
  const found: ConfigIssue[] = [];
  for (const pair of listeners.items) {
    if (!isScalar(pair.key) || !isMap(pair.value)) continue;
    const listener = String(pair.key.value);
    for (const list of ["allow", "deny"] as const) {
      const entries = pair.value.get(list, true);
      if (!isSeq(entries)) continue;
      entries.items.forEach((item, i) => {
        if (!isScalar(item) || typeof item.value !== "string") return;
        const other = trustDomainOf(item.value);
        if (other === undefined || other === trustDomain.name) return;
        found.push({
          path: `listeners.${listener}.${list}[${i}]`,
          message:
            `${item.value} is in trust domain ${other}, not ${trustDomain.name}: the sidecar refuses peers of any other trust domain ` +
            "before the policy is asked, so this entry never matches",
          ...(item.range ? lines.linePos(item.range[0]) : {}),
        });
      });
    }
  }
  return found;
}

function trustDomainOf(pattern: string): string | undefined {
  try {
    return IdPattern.parse(pattern).trustDomain.name;
  } catch {
    // loadPolicy has already refused a malformed entry; nothing to add here.
    return undefined;
  }
}
