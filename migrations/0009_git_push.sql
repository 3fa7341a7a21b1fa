-- Pushing over git: on by default for wikis whose git access is on (writing still needs
-- an editor's credentials); the owner can switch it off and keep clone.
ALTER TABLE wikis ADD COLUMN git_push INTEGER NOT NULL DEFAULT 1;
