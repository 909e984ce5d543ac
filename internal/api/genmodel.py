#!/usr/bin/env python3
"""Regenerates ssm-model.json: the subset of botocore's SSM service model that
Tether serves (the operations below and the transitive closure of their
shapes, documentation removed). Usage: python3 genmodel.py [service-2.json[.gz]]"""
import gzip, json, sys, os

OPS = ['StartSession', 'ResumeSession', 'TerminateSession', 'DescribeSessions',
       'GetConnectionStatus', 'CreateActivation', 'DescribeActivations',
       'DeleteActivation', 'DescribeInstanceInformation']

def load(path):
    opener = gzip.open if path.endswith('.gz') else open
    with opener(path) as f:
        return json.load(f)

def main():
    if len(sys.argv) > 1:
        path = sys.argv[1]
    else:
        import botocore
        base = os.path.join(os.path.dirname(botocore.__file__), 'data/ssm/2014-11-06/service-2.json')
        path = base if os.path.exists(base) else base + '.gz'
    m = load(path)
    seen = set()
    def clos(name):
        if name in seen:
            return
        seen.add(name)
        s = m['shapes'][name]
        for k in ('member', 'key', 'value'):
            if k in s:
                clos(s[k]['shape'])
        for mm in s.get('members', {}).values():
            clos(mm['shape'])
    out = {'metadata': {k: m['metadata'][k] for k in ('apiVersion', 'jsonVersion', 'protocol', 'targetPrefix', 'signingName', 'endpointPrefix', 'serviceId') if k in m['metadata']},
           'operations': {}, 'shapes': {}}
    for o in OPS:
        op = m['operations'][o]
        out['operations'][o] = {k: op[k] for k in ('name', 'input', 'output', 'errors') if k in op}
        for k in ('input', 'output'):
            if k in op:
                clos(op[k]['shape'])
        for e in op.get('errors', []):
            clos(e['shape'])
    def strip(d):
        if isinstance(d, dict):
            return {k: strip(v) for k, v in d.items() if k != 'documentation'}
        return d
    for n in sorted(seen):
        out['shapes'][n] = strip(m['shapes'][n])
    out['_about'] = ('Subset of the botocore service model ssm/2014-11-06 (botocore 1.43.11): the operations Tether serves '
                     'and the transitive closure of their shapes, documentation removed. Regenerate with internal/api/genmodel.py.')
    with open(os.path.join(os.path.dirname(os.path.abspath(__file__)), 'ssm-model.json'), 'w') as f:
        json.dump(out, f, indent=1, sort_keys=True)

if __name__ == '__main__':
    main()
