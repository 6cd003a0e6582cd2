-- Which player is a CAD unit, read from sonorancad's unit cache at no cost.
-- Pure: the unit cache, the players' identifiers and what sonorancad announced
-- come in as arguments.
--
-- sonorancad's own lookup (exports GetUnitByPlayerId, getPlayerCommunityUserId)
-- may spend an API request on a player whose account link it has not checked
-- lately, so it is never called. Instead, as sonorancad's GetSourceByCadIdentity
-- does without that request: a unit's identity values (GetUnitIdentityValues:
-- data.communityUserIds, else data.communityUserId, else data.apiIds) are
-- compared with each player's identifiers, prefix stripped ("license:abc" ->
-- "abc"); and the players sonorancad itself mapped to units (its
-- SonoranCAD::core:AddPlayer event, fired at each login and unit poll) count
-- first, which covers units known only by a community user id.

local Units = {}

---@param value any
---@return integer|nil
local function as_integer(value)
    if type(value) == "string" then
        value = tonumber(value)
    end
    return type(value) == "number" and math.tointeger(value) or nil
end

---A unit's identity values, by sonorancad's rules (GetUnitIdentityValues).
---@param unit any
---@return string[]
function Units.identities(unit)
    if type(unit) ~= "table" then
        return {}
    end
    local data = type(unit.data) == "table" and unit.data or unit
    if type(data.communityUserIds) == "table" and #data.communityUserIds > 0 then
        return data.communityUserIds
    end
    if type(data.communityUserId) == "string" and data.communityUserId ~= "" then
        return { data.communityUserId }
    end
    if type(data.apiIds) == "table" and #data.apiIds > 0 then
        return data.apiIds
    end
    return {}
end

---The unit object with this identId in the unit cache, or nil (not logged in,
---or not mapped to a player in game).
---@param cache any exports.sonorancad:GetUnitCache()
---@param ident_id integer
---@return table|nil
function Units.find(cache, ident_id)
    if type(cache) ~= "table" then
        return nil
    end
    for _, unit in pairs(cache) do
        if type(unit) == "table" and as_integer(unit.id) == ident_id then
            return unit
        end
    end
    return nil
end

---A player's identifiers with the prefix stripped, as sonorancad compares them.
---@param identifiers any GetPlayerIdentifiers(player)
---@return table<string, boolean>
function Units.stripped(identifiers)
    local set = {}
    if type(identifiers) ~= "table" then
        return set
    end
    for _, id in ipairs(identifiers) do
        if type(id) == "string" then
            local value = id:match("^[^:]*:([^:]*)") -- stringsplit(id, ":")[2]
            if value ~= nil and value ~= "" then
                set[value] = true
            end
        end
    end
    return set
end

---@class UnitPlayer
---@field id string server id, as GetPlayers() gives it
---@field ids table<string, boolean> identifiers, prefix stripped

---The player who is this unit now, or nil.
---@param unit table a unit object from the cache
---@param players UnitPlayer[] the connected players
---@param announced table<integer, string>|nil unit identId -> player id, from SonoranCAD::core:AddPlayer
---@return string|nil player server id
function Units.player_of(unit, players, announced)
    local ident_id = as_integer(unit.id)
    local told = announced and ident_id and announced[ident_id]
    if told ~= nil then
        for _, player in ipairs(players) do
            if player.id == told then
                return player.id
            end
        end
    end
    for _, identity in ipairs(Units.identities(unit)) do
        for _, player in ipairs(players) do
            if player.ids[tostring(identity)] then
                return player.id
            end
        end
    end
    return nil
end

---Unit identId -> player server id for every unit in the cache that is in game.
---A unit in `logged_out` counts as gone even while the cache still holds it:
---sonorancad v4.0.104 announces a logout (UnitLogout) but leaves the unit in
---its cache until its next 60 s unit poll.
---@param cache any
---@param players UnitPlayer[]
---@param announced table<integer, string>|nil
---@param logged_out table<integer, boolean>|nil unit identIds whose logout was announced
---@return table<integer, string>
function Units.players(cache, players, announced, logged_out)
    local map = {}
    if type(cache) ~= "table" then
        return map
    end
    for _, unit in pairs(cache) do
        local ident_id = type(unit) == "table" and as_integer(unit.id) or nil
        if ident_id ~= nil and not (logged_out and logged_out[ident_id]) then
            map[ident_id] = Units.player_of(unit, players, announced)
        end
    end
    return map
end

return Units
