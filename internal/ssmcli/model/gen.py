#!/usr/bin/env python3
"""Regenerates ssm.json from the botocore model vendored in Debian awscli 2.9.19.

Keeps the nine operations tether ssm implements, the transitive closure of
their shapes, their paginators and the list of every SSM operation (for the
invalid-choice message). Documentation is replaced by the one-sentence
"overview" awscli prints in --generate-cli-skeleton yaml-input comments.

Usage: python3 gen.py > ssm.json   (needs /usr/lib/python3/dist-packages/awscli)
"""
import json
import sys
import xml.dom.minidom  # noqa: F401  (needed by awscli's doc stripper)
import xml.parsers.expat  # noqa: F401

sys.path.insert(0, '/usr/lib/python3/dist-packages')
from awscli.botocore import model as bm  # noqa: E402
from awscli.customizations.utils import get_shape_doc_overview  # noqa: E402

SRC = '/usr/lib/python3/dist-packages/awscli/botocore/data/ssm/2014-11-06/'
OPS = ['StartSession', 'ResumeSession', 'TerminateSession', 'DescribeSessions',
       'GetConnectionStatus', 'CreateActivation', 'DescribeActivations',
       'DeleteActivation', 'DescribeInstanceInformation']

full = json.load(open(SRC + 'service-2.json'))
pag = json.load(open(SRC + 'paginators-1.json'))
sm = bm.ServiceModel(full, 'ssm')
shapes = {}


def walk(name):
    if name in shapes:
        return
    s = dict(full['shapes'][name])
    shapes[name] = s
    for mem in s.get('members', {}).values():
        walk(mem['shape'])
    for k in ('member', 'key', 'value'):
        if k in s:
            walk(s[k]['shape'])


out = {'metadata': full['metadata'], 'operations': {}, 'shapes': shapes,
       'paginators': {}, 'allOperations': list(full['operations'])}
for o in OPS:
    op = full['operations'][o]
    out['operations'][o] = {k: op[k] for k in ('name', 'http', 'input', 'output', 'errors') if k in op}
    for k in ('input', 'output'):
        walk(op[k]['shape'])
    for e in op.get('errors', []):
        walk(e['shape'])
    if o in pag['pagination']:
        out['paginators'][o] = pag['pagination'][o]
for n, s in shapes.items():
    s.pop('documentation', None)
    if s.get('type') != 'structure':
        continue
    shape = sm.shape_for(n)
    for mn, mem in s['members'].items():
        mem['overview'] = get_shape_doc_overview(shape.members[mn])
        mem.pop('documentation', None)
json.dump(out, sys.stdout, indent=1)
