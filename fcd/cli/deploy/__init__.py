"""``fcctl deploy``: Serverless Devs ``s.yaml`` and Funcraft ``template.yml`` files, deployed.

Both formats are read into one plan model (:mod:`.model`) by pure parsers (:mod:`.sdevs`,
:mod:`.funcraft`); :mod:`.planner` compares it with what the daemon has (pure); :mod:`.command`
reads the daemon's state, runs the file's hooks and applies the changes over the API.
"""
