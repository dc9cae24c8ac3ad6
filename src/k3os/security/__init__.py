"""PKI, join tokens, authentication, RBAC and node restriction.

Modules, each one concept (docs/security.md is the overview):
    pki, tokens, bootstrap, kubeconfig, files   CA and certificates, K10 tokens, first start
    serviceaccount                              ES256 ServiceAccount JWTs: signer, verifier
    authn                                       UserInfo, Credentials, the authenticators
    authz                                       Attributes, Decision, union, 403 wording
    rbac, bootstrap_policy                      RBAC evaluation and the default roles
    node, noderestriction                       the Node authorizer and NodeRestriction
    join                                        the node-certificate join endpoint's logic
"""
