"""The UI's two scripts, served by the server itself (``/static/ui.js``, ``/static/live.js``):
no page holds inline script, so the Content-Security-Policy (ui.security) can refuse every
script but these, and nothing is fetched from elsewhere.

- ``ui.js`` (catalog, asset and lineage pages): filters the catalog, posts the Materialize forms
  and keeps the page's states in step with builds.
- ``live.js``: a SharedWorker holding the one event stream (``/events``) that every open page of
  this server shares. A browser opens at most 6 HTTP/1.1 connections to a host: one stream per
  page locked the UI once six pages were open. A browser without SharedWorker gives each page
  its own stream, as before.

The URLs carry a digest of the text: a browser never runs an older copy, and pages of different
assetbuild versions never share a worker.
"""

from __future__ import annotations

import hashlib
import json

from .html import COLORS
from .svg import STATE_COLORS

#: the shared stream: one EventSource for every page (port) connected; a page that connects
#: gets the state it missed first (the last build's outcome, the build running and its wait).
#: Each (re)connection's ``connected`` is the server's word: a server started again on the port
#: has no build running, and its own last outcome (none yet: null). A lost stream is said to
#: every page (``disconnected``): the build it showed may never end (the server was killed).
WORKER_SCRIPT = """'use strict';
const ports=new Set();let es=null,last=null,running=null,waiting=null;
const all=(e)=>{for(const p of ports)p.postMessage(e);};
function open(){
  es=new EventSource('/events');
  es.onmessage=(m)=>{const e=JSON.parse(m.data);
    if(e.type==='connected'){last=e.last;running=null;waiting=null;}
    else if(e.type==='build-started'){running=e;waiting=null;}
    else if(e.type==='build-waiting'){waiting=e;}
    else if(e.type==='build-running'){waiting=null;}
    else if(e.type==='build-finished'){last=e;running=null;waiting=null;}
    all(e);};
  es.onerror=()=>{running=null;waiting=null;all({type:'disconnected'});
    if(es&&es.readyState===2){es=null;setTimeout(()=>{if(!es&&ports.size)open();},3000);}};
}
onconnect=(c)=>{const p=c.ports[0];ports.add(p);
  p.onmessage=(m)=>{if(m.data==='bye'){ports.delete(p);if(!ports.size&&es){es.close();es=null;}}};
  if(!es)open();
  p.postMessage({type:'connected',last:last});
  if(running)p.postMessage(running);
  if(waiting)p.postMessage(waiting);
};
"""


def _url(name: str, text: str) -> str:
    return f"/static/{name}?v={hashlib.sha256(text.encode()).hexdigest()[:12]}"


WORKER_URL = _url("live.js", WORKER_SCRIPT)

#: the pages' script: ``body[data-finished]`` is the id of the last build whose states the page
#: shows; an event of that build or an older one changes nothing
PAGE_SCRIPT = """'use strict';
(()=>{
const COLORS=$COLORS,SVG_COLORS=$SVG_COLORS,WORKER=$WORKER;
let seen=Number(document.body.dataset.finished||0),noted=0,passing=false;
// (passing: the note says what may end without a word: a build running, a wait, a lost stream)
const note=(text,pass)=>{noted++;passing=!!pass;const n=document.getElementById('build-note');if(n)n.textContent=text;};
const buttons=(off)=>{for(const b of document.querySelectorAll('button[data-build]'))b.disabled=off;};
const set=(asset,state)=>{for(const el of document.querySelectorAll('[data-asset="'+CSS.escape(asset)+'"]')){
  el.dataset.state=state;const b=el.querySelector('.state');if(b){b.textContent=state;b.style.background=COLORS[state]||'#888';}
  const r=el.querySelector('rect.box'),c=SVG_COLORS[state];if(r&&c){r.setAttribute('fill',c[0]);r.setAttribute('stroke',c[1]);}}};
const badge=(b,state)=>{if(b){b.textContent=state;b.style.background=COLORS[state]||'#888';}};
const setPart=(asset,key,state)=>{const a=CSS.escape(asset),k=CSS.escape(key);  // (a partition's grid cell and badge)
  for(const c of document.querySelectorAll('[data-partitions-of="'+a+'"] [data-partition="'+k+'"]')){
    c.dataset.state=state;c.title=key+': '+state;c.style.background=COLORS[state]||'#888';}
  for(const b of document.querySelectorAll('[data-testid=partition-selected][data-of="'+a+'"][data-key="'+k+'"]'))
    badge(b.nextElementSibling,state);};
const shown=(s)=>s==='running'?'running':s==='failed'?'failed':s==='skipped'?'missing':'fresh';
function onEvent(e){
  if(e.type==='connected'){buttons(false);if(passing)note('');if(e.last)onEvent(e.last);return;}  // (then what runs)
  if(e.type==='disconnected'){note('connection to the server lost: reconnecting...',true);return;}
  if(e.type.startsWith('build-')&&e.build<=seen)return;  // (a build this page shows already)
  if(e.type==='asset'){if(e.partition===undefined)set(e.asset,shown(e.status));else setPart(e.asset,e.partition,shown(e.status));}
  if(e.type==='build-started'){buttons(true);note('building...',true);}
  if(e.type==='build-waiting')note(e.message,true);
  if(e.type==='build-running')note('building...',true);
  if(e.type==='build-finished'){seen=e.build;for(const[a,s]of Object.entries(e.states||{}))set(a,s);
    for(const[a,keys]of Object.entries(e.partitions||{}))for(const[k,s]of Object.entries(keys))setPart(a,k,s);
    buttons(false);note(e.ok?'build finished':'build failed'+(e.error?': '+e.error:''));}
}
function live(){
  if(window.SharedWorker){
    try{const w=new SharedWorker(WORKER,{name:'assetbuild'});w.port.onmessage=(m)=>onEvent(m.data);
      addEventListener('pagehide',()=>w.port.postMessage('bye'),{once:true});return;}catch(err){}
  }
  const es=new EventSource('/events');es.onmessage=(m)=>onEvent(JSON.parse(m.data));
  es.onerror=()=>onEvent({type:'disconnected'});
  addEventListener('pagehide',()=>es.close(),{once:true});
}
addEventListener('pageshow',(e)=>{if(e.persisted)live();});  // (back from the page cache: join again)
live();
for(const f of document.querySelectorAll('form[action="/materialize"]')){
  f.addEventListener('submit',async(ev)=>{ev.preventDefault();const before=noted;
    let r;
    try{r=await fetch(f.action,{method:'POST',body:new URLSearchParams(new FormData(f)),
                                headers:{'Accept':'application/json'}});}
    catch(err){note('the server does not answer: is assetbuild ui still running?');return;}
    if(r.status===202&&noted!==before)return;  // (the stream said more meanwhile: a wait, the end)
    if(r.status===202){note('building...',true);return;}
    note(r.status===409?'a build is already running: wait for it to finish'
         :'refused ('+r.status+'): '+(await r.text()));});
}
function filter(){
  const q=document.getElementById('q').value.toLowerCase(),
        g=document.getElementById('group').value,s=document.getElementById('state').value;
  for(const row of document.querySelectorAll('tr[data-node]')){
    row.hidden=!((!q||row.dataset.node.toLowerCase().includes(q)||(row.dataset.text||'').toLowerCase().includes(q))
      &&(!g||row.dataset.group===g)&&(!s||row.dataset.state===s));
  }
}
if(document.getElementById('q')){
  document.getElementById('q').addEventListener('input',filter);
  for(const id of['group','state'])document.getElementById(id).addEventListener('change',filter);
}
for(const box of document.querySelectorAll('input[data-submit]'))box.addEventListener('change',()=>box.form.submit());
})();
""".replace("$COLORS", json.dumps({**COLORS, "running": "#1565c0"})).replace(
    "$SVG_COLORS", json.dumps(STATE_COLORS)).replace("$WORKER", json.dumps(WORKER_URL))

PAGE_URL = _url("ui.js", PAGE_SCRIPT)

#: path -> script, as the server answers them (any ?v= digest: the current text)
SCRIPTS = {"/static/ui.js": PAGE_SCRIPT, "/static/live.js": WORKER_SCRIPT}
