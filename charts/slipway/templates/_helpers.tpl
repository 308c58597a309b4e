{{/* The chart's name, or nameOverride. */}}
{{- define "slipway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* Name of every object: fullnameOverride, else the release name, with "-<name>" unless it already
says it. */}}
{{- define "slipway.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := include "slipway.name" . -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "slipway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "slipway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "slipway.labels" -}}
{{ include "slipway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
{{- end -}}

{{- define "slipway.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "slipway.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- required "serviceAccount.name is required when serviceAccount.create is false" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* "true" when the operator pods agree on one leader: leaderElection.enabled, unless sharding is on
(sharding replaces it). Several pods with neither are refused. */}}
{{- define "slipway.leaderElection" -}}
{{- if and (not .Values.leaderElection.enabled) (not .Values.sharding.enabled) (gt (int .Values.replicas) 1) -}}
{{- fail "replicas above 1 needs leaderElection.enabled or sharding.enabled: several operators would reconcile the same Releases at once" -}}
{{- end -}}
{{- if and .Values.leaderElection.enabled (not .Values.sharding.enabled) -}}true{{- end -}}
{{- end -}}

{{/* "true" when the pods coordinate through Leases: leader election or sharding. */}}
{{- define "slipway.leases" -}}
{{- if or (include "slipway.leaderElection" .) .Values.sharding.enabled -}}true{{- end -}}
{{- end -}}

{{/* The operator config file: the user's `config` under what the chart itself decides. */}}
{{- define "slipway.config" -}}
{{- $chart := dict
    "namespaces" .Values.watchNamespaces
    "allNamespaces" (empty .Values.watchNamespaces)
    "leaderElection" (dict
      "enabled" (eq (include "slipway.leaderElection" .) "true")
      "leaseName" (include "slipway.fullname" .)
      "namespace" .Release.Namespace)
    "sharding" (dict
      "enabled" .Values.sharding.enabled
      "shards" (max 1 (int .Values.replicas))
      "leaseName" (include "slipway.fullname" .)
      "namespace" .Release.Namespace)
    "server" (dict "host" "0.0.0.0" "port" (int .Values.port)) -}}
{{- $notifiers := dict -}}
{{- range $name, $notifier := .Values.notifications.notifiers -}}
{{- $dir := printf "%s/%s" (include "slipway.notifiersDir" $) $name -}}
{{- $entry := dict "type" $notifier.type "urlFile" (printf "%s/%s" $dir ($notifier.urlKey | default "url")) -}}
{{- with $notifier.tokenKey }}{{- $_ := set $entry "tokenFile" (printf "%s/%s" $dir .) -}}{{- end -}}
{{- with $notifier.linkTemplate }}{{- $_ := set $entry "linkTemplate" . -}}{{- end -}}
{{- $_ := set $notifiers $name $entry -}}
{{- end -}}
{{- if or .Values.notifications.allowedHosts $notifiers -}}
{{- $_ := set $chart "notifications" (dict "allowedHosts" .Values.notifications.allowedHosts "notifiers" $notifiers) -}}
{{- end -}}
{{- toYaml (mergeOverwrite (deepCopy .Values.config) $chart) -}}
{{- end -}}

{{/* Where each notifier's Secret is mounted: outside /etc/slipway, the ConfigMap's read-only volume. */}}
{{- define "slipway.notifiersDir" -}}/var/run/slipway/notifiers{{- end -}}
