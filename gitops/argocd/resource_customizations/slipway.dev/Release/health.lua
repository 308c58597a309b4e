-- Argo CD health of a Slipway Release (slipway.dev/Release).
--
-- Install it as the argocd-cm key `resource.customizations.health.slipway.dev_Release` (docs/gitops.md).
-- It reads what the operator writes: status.observedGeneration, status.phase, status.reason and
-- status.message (docs/state-machine.md). Only Lua 5.1 and its base library are used: Argo CD runs
-- health checks without the string library.
--
--   no status, or a status of an older generation   Progressing  (waiting for the operator)
--   Healthy                                          Healthy
--   Progressing, RollingBack (timed pauses too)      Progressing
--   Paused, waiting for a person                     Suspended    (an approval at the promotion gate too)
--   Paused until a provider answers again            Progressing  (it carries on by itself)
--   Paused at the promotion gate (upstream, soak,    Progressing  (it starts by itself)
--     window)
--   Degraded (rolled back, deadline, refused spec)   Degraded

local health = {}

local function verdict(status, message)
  health.status = status
  health.message = message
  return health
end

-- Paused for a reason that ends without a person: the operator resumes when the provider answers,
-- or starts the version when the upstream verifies it, the soak ends or a window opens.
local RESUMES_BY_ITSELF = {
  ProviderErrors = true,
  AlertsUnknown = true,
  WaitingForUpstream = true,
  Soaking = true,
  OutsideWindow = true,
}

local status = obj.status
if status == nil or status.phase == nil then
  return verdict("Progressing", "Waiting for the operator to write the Release's status")
end

local generation = nil
if obj.metadata ~= nil then
  generation = obj.metadata.generation
end
local observed = status.observedGeneration
if generation ~= nil and observed ~= generation then
  local seen = "none"
  if observed ~= nil then
    seen = tostring(observed)
  end
  return verdict(
    "Progressing",
    "Waiting for the operator to act on generation " .. tostring(generation) .. " (status is of generation " .. seen .. ")"
  )
end

local phase = status.phase
local message = status.message
if message == nil or message == "" then
  message = phase
  if status.reason ~= nil and status.reason ~= "" then
    message = phase .. ": " .. status.reason
  end
end

if phase == "Healthy" then
  return verdict("Healthy", message)
end
if phase == "Progressing" or phase == "RollingBack" then
  return verdict("Progressing", message)
end
if phase == "Paused" then
  if status.reason ~= nil and RESUMES_BY_ITSELF[status.reason] then
    return verdict("Progressing", message)
  end
  return verdict("Suspended", message)
end
if phase == "Degraded" then
  return verdict("Degraded", message)
end

-- A phase this check does not know (a newer operator): the kstatus conditions still say enough.
if status.conditions ~= nil then
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Stalled" and condition.status == "True" then
      return verdict("Degraded", message)
    end
  end
  for _, condition in ipairs(status.conditions) do
    if condition.type == "Ready" and condition.status == "True" then
      return verdict("Healthy", message)
    end
  end
end
return verdict("Progressing", message)
