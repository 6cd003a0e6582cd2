fx_version 'cerulean'
game 'gta5'
server_only 'yes'
node_version '22' -- for the global WebSocket client in server/transport.js

name 'sonoran_bridge'
version '0.1.0' -- keep equal to bridge/__init__.py: it is sent to the daemon in `hello`
description 'Moves Sonoran CAD dispatch calls on the live map to follow players and vehicles (talks to the sonoran-bridge daemon)'
repository 'https://github.com/sonoran-bridge/sonoran-bridge' -- placeholder until the project is published

dependencies {
    '/server:12913', -- first FXServer build with node_version '22'
    '/onesync',      -- server-side entity positions
}

-- Only the entry files: server/main.lua loads the modules under shared/ with the
-- resource's own `require` (server/require.lua), which reads them from this folder.
server_scripts {
    'server/transport.js', -- first: its event handlers exist before Lua uses them
    'server/require.lua',  -- the module loader, before any Lua that requires
    'server/main.lua',
}
