{{/* Chart name, overridable. */}}
{{- define "tocsin.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Kept to 52 characters: StatefulSet pods append "-<ordinal>" and the
controller-revision-hash label appends 11 more characters to the StatefulSet name (63 max).
*/}}
{{- define "tocsin.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 52 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "tocsin.namespace" -}}
{{- default .Release.Namespace .Values.namespaceOverride }}
{{- end }}

{{- define "tocsin.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "tocsin.selectorLabels" -}}
app.kubernetes.io/name: {{ include "tocsin.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "tocsin.labels" -}}
helm.sh/chart: {{ include "tocsin.chart" . }}
{{ include "tocsin.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{- define "tocsin.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "tocsin.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* The headless Service that gives every pod a stable DNS name for gossip. */}}
{{- define "tocsin.headlessName" -}}
{{- printf "%s-headless" (include "tocsin.fullname" .) }}
{{- end }}

{{/*
Gossip peers: every replica's stable DNS name (the pod names double as peer names, so a
restarted pod keeps its position), then additionalPeers. tocsin re-resolves them every 15s.
*/}}
{{- define "tocsin.peers" -}}
{{- $fullname := include "tocsin.fullname" . }}
{{- $headless := include "tocsin.headlessName" . }}
{{- $namespace := include "tocsin.namespace" . }}
{{- $peers := list }}
{{- range $ordinal := until (int .Values.replicaCount) }}
{{- $peers = append $peers (printf "%s-%d.%s.%s.svc.%s:%d" $fullname $ordinal $headless $namespace $.Values.clusterDomain (int $.Values.service.clusterPort)) }}
{{- end }}
{{- concat $peers (.Values.additionalPeers | default list) | toJson }}
{{- end }}

{{/* alertmanager.yml: the config values without the chart's own `enabled` switch. */}}
{{- define "tocsin.configFile" -}}
{{- omit .Values.config "enabled" | toYaml }}
{{- end }}

{{/*
A probe with the route prefix of baseURL in front of tocsin's own /-/ paths: with
--web.external-url=https://host/am/ the daemon serves /am/-/ready, not /-/ready.
Arguments: (list probe baseURL).
*/}}
{{- define "tocsin.probe" -}}
{{- $probe := deepCopy (index . 0) }}
{{- $prefix := include "tocsin.routePrefix" (index . 1) }}
{{- if and $prefix $probe.httpGet (hasPrefix "/-/" ($probe.httpGet.path | default "")) }}
{{- $_ := set $probe.httpGet "path" (printf "%s%s" $prefix $probe.httpGet.path) }}
{{- end }}
{{- toYaml $probe }}
{{- end }}

{{/* The route prefix baseURL implies, without the trailing slash ("" at the root). */}}
{{- define "tocsin.routePrefix" -}}
{{- trimSuffix "/" (urlParse (. | default "/")).path }}
{{- end }}
